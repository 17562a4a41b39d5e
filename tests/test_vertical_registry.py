"""Verticals are found by name among the installed ones, never joined into a path from request
data; a vertical's code is a bare module file in its own folder; a student's pickle is opened
only when its checksum matches the one its build recorded."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from callflows.verticals import (
    UnknownVertical,
    is_known_vertical,
    list_verticals,
    load_actions_module,
    load_vertical,
    vertical_root,
)

EVIL_ACTIONS = "from pathlib import Path\nPath({marker!r}).write_text('imported')\n"
FLOW = "vertical: evil\ndisplay_name: Evil\nactions: actions.py\n"


@pytest.fixture
def evil_dir(tmp_path: Path) -> tuple[Path, Path]:
    """A folder that looks like a vertical and whose actions module leaves a marker when imported."""
    marker = tmp_path / "imported.marker"
    root = tmp_path / "x" / "evil"
    root.mkdir(parents=True)
    (root / "flow.yaml").write_text(FLOW)
    (root / "actions.py").write_text(EVIL_ACTIONS.format(marker=str(marker)))
    (root / "evil2.py").write_text(EVIL_ACTIONS.format(marker=str(marker)))
    return root, marker


def test_the_installed_verticals_are_known_by_name():
    names = list_verticals()
    assert {"dental_clinic", "retail_bank", "hotel"} <= set(names)
    assert all(is_known_vertical(n) for n in names)
    assert vertical_root("hotel").name == "hotel"


@pytest.mark.parametrize("name", ["../../../../{root}", "{root}", "dental_clinic/../../{root}", "", ".",
                                  "..", "DENTAL_CLINIC", "dental_clinic\x00", "a" * 200, "hvac_service"])
def test_a_name_that_is_not_an_installed_vertical_is_refused_and_nothing_is_imported(evil_dir, name):
    root, marker = evil_dir
    name = name.format(root=str(root).lstrip("/") if name.startswith("../") else str(root))
    assert not is_known_vertical(name)
    with pytest.raises(UnknownVertical):
        vertical_root(name)
    with pytest.raises(UnknownVertical):
        load_vertical(name)
    assert not marker.exists()


@pytest.mark.parametrize("module_file", ["/tmp/x/evil2.py", "../evil/evil2.py", "evil/evil2.py", "os.path",
                                         "evil2", "..\\evil2.py"])
def test_an_actions_module_outside_the_vertical_folder_is_never_imported(evil_dir, module_file):
    root, marker = evil_dir
    other = vertical_root("dental_clinic")
    module_file = module_file.replace("/tmp/x/evil2.py", str(root / "evil2.py"))
    with pytest.raises(ValueError):
        load_actions_module("dental_clinic", other, module_file)
    assert not marker.exists()


def test_a_student_whose_pickle_was_swapped_is_refused(tmp_path):
    from callflows.nlu.student import PICKLE, StudentModel

    texts = ["i lost my card", "my card was stolen", "what is my balance", "how much money do i have"] * 3
    labels = ["lost_card", "lost_card", "balance", "balance"] * 3
    StudentModel(use_embeddings=False).fit(texts, labels, calibrate=False).save(tmp_path / "s")
    assert StudentModel.load(tmp_path / "s").rank("my card was stolen")[0].intent == "lost_card"

    marker = tmp_path / "unpickled.marker"

    class Evil:
        def __reduce__(self):
            return (Path(marker).write_text, ("unpickled",))

    (tmp_path / "s" / PICKLE).write_bytes(pickle.dumps(Evil()))
    with pytest.raises(ValueError, match="checksum"):
        StudentModel.load(tmp_path / "s")
    assert not marker.exists()
    (tmp_path / "s" / "card.json").unlink()  # a build without a recorded checksum is refused too
    with pytest.raises(ValueError, match="checksum"):
        StudentModel.load(tmp_path / "s")
    assert not marker.exists()
