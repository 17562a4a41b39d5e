"""Students built by the install are cached outside the clone by the hash of their inputs (issue 16,
item 1): a second build with the same inputs takes the cached folder, any changed input builds a
new one, a damaged or half-written entry is never served, the fine-tuned encoder is cached apart
from the student, and `callflows models status` says which encoder a student has. Real training
(a tiny flow, the real MiniLM encoder), real files."""

from __future__ import annotations

import json
import re
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from callflows.distill.cache import MARKER, ArtifactCache, key_of
from callflows.distill.recipe import Recipe

REPO = Path(__file__).resolve().parents[1]

FLOW = textwrap.dedent("""\
    vertical: bike_shop
    display_name: Bike Shop
    timezone: Europe/London
    slots:
      date:
        type: date
    intents:
      book_repair:
        examples:
          - i need my bike repaired
          - can you fix a flat tyre
          - book a service for my bicycle
          - my brakes need fixing
          - i want to bring my bike in for a repair
      rent_bike:
        examples:
          - i want to rent a bike
          - can i hire a bicycle for the day
          - do you rent out bikes
          - i would like to hire two bikes
          - how do i rent a bike
    responses:
      greet: ["Bike Shop, how can I help?"]
    """)


def _vertical(tmp_path: Path, extra_example: str | None = None):
    from callflows.flow.loader import load_flow

    root = tmp_path / "bike_shop"
    root.mkdir(exist_ok=True)
    text = FLOW if extra_example is None else FLOW.replace("- how do i rent a bike\n", f"- how do i rent a bike\n      - {extra_example}\n")
    (root / "flow.yaml").write_text(text)
    return load_flow(root / "flow.yaml"), root


def _caches(tmp_path: Path):
    from callflows.distill.train import BuildCaches

    return BuildCaches(ArtifactCache(tmp_path / "cache" / "students"), ArtifactCache(tmp_path / "cache" / "encoders"))


def _embedder_or_skip() -> None:
    pytest.importorskip("onnxruntime")
    from callflows.nlu.embeddings import default_fast_embedder

    try:
        default_fast_embedder(threads=2)
    except FileNotFoundError as exc:
        pytest.skip(f"no embedding model: {exc}")


def test_an_entry_counts_only_when_complete_and_unaltered(tmp_path):
    cache = ArtifactCache(tmp_path / "c")
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.bin").write_bytes(b"weights")
    (src / "card.json").write_text("{}")
    key = key_of({"x": 1})
    assert cache.get(key) is None
    entry = cache.put(key, src)
    assert cache.get(key) == entry and (entry / MARKER).is_file()
    assert json.loads((entry / MARKER).read_text())["key"] == key
    assert not [p for p in cache.root.iterdir() if p.name.startswith(".")]  # no temporary folder left
    (entry / "a.bin").write_bytes(b"weightz")  # altered after it was cached
    assert cache.get(key) is None
    cache.put(key, src)  # put again: the damaged entry is replaced
    assert cache.get(key) == entry and (entry / "a.bin").read_bytes() == b"weights"
    (entry / "extra").write_text("?")  # a file the marker does not name
    assert cache.get(key) is None
    (entry / "extra").unlink()
    (entry / MARKER).unlink()  # a copy interrupted before its marker: never served
    assert cache.get(key) is None
    (entry / MARKER).write_text(json.dumps({"key": key_of({"x": 2}), "files": {}}))  # another key's marker
    assert cache.get(key) is None
    assert key_of({"x": 1, "y": [1, 2]}) == key_of({"y": [1, 2], "x": 1}) != key_of({"x": 1, "y": [2, 1]})
    with pytest.raises(ValueError):
        cache.path("../../etc")


def test_a_student_is_reused_from_the_cache_and_rebuilt_when_an_input_changes(tmp_path, monkeypatch):
    _embedder_or_skip()
    from callflows.distill.train import train_student
    from callflows.nlu.student import StudentModel

    monkeypatch.setenv("CALLFLOWS_FINETUNE", "0")  # the frozen encoder: no torch needed here
    caches = _caches(tmp_path)
    flow, root = _vertical(tmp_path)
    lines: list[str] = []
    first = train_student(flow, root, Recipe(), out=tmp_path / "one" / "student", caches=caches, holdout=0,
                          log=lines.append)
    card = json.loads((first / "card.json").read_text())
    key = card["training"]["cache_key"]
    assert card["training"]["encoder"]["kind"] == "frozen" and "from the cache" not in " ".join(lines)
    assert caches.students.get(key) is not None

    lines.clear()  # a fresh clone: another folder, the same inputs
    second = train_student(flow, root, Recipe(), out=tmp_path / "two" / "student", caches=caches, holdout=0,
                           log=lines.append)
    assert any("from the cache" in line for line in lines) and not any("embedding" in line for line in lines)
    assert (second / "student.pkl").read_bytes() == (first / "student.pkl").read_bytes()
    student = StudentModel.load(second)
    assert student.rank("could you fix my bike")[0].intent == "book_repair"

    # a damaged entry is not served: the student is trained again and the entry repaired
    (caches.students.path(key) / "student.pkl").write_bytes(b"not a pickle")
    lines.clear()
    third = train_student(flow, root, Recipe(), out=tmp_path / "three" / "student", caches=caches, holdout=0,
                          log=lines.append)
    assert not any("from the cache" in line for line in lines)
    assert StudentModel.load(third).card["training"]["cache_key"] == key and caches.students.get(key) is not None

    # one more example in the flow: new inputs, a new student
    flow2, _ = _vertical(tmp_path, extra_example="rent me a mountain bike")
    lines.clear()
    fourth = train_student(flow2, root, Recipe(), out=tmp_path / "four" / "student", caches=caches, holdout=0,
                           log=lines.append)
    assert not any("from the cache" in line for line in lines)
    assert StudentModel.load(fourth).card["training"]["cache_key"] != key


def test_fine_tuned_encoder_is_cached_apart_and_status_names_it(tmp_path, monkeypatch):
    _embedder_or_skip()
    pytest.importorskip("torch", reason="fine-tuning needs torch (scripts/install.sh students installs it)")
    from click.testing import CliRunner

    from callflows.cli.models import models
    from callflows.distill.train import train_student
    from callflows.nlu.student import StudentModel

    monkeypatch.delenv("CALLFLOWS_FINETUNE", raising=False)
    caches = _caches(tmp_path)
    flow, root = _vertical(tmp_path)
    recipe = replace(Recipe(), finetune_layers=1, finetune_epochs=1, finetune_max_steps=3)
    built = tmp_path / "built"
    lines: list[str] = []
    out = train_student(flow, root, recipe, out=built / "bike_shop" / "student", caches=caches, holdout=0,
                        log=lines.append)
    enc = json.loads((out / "card.json").read_text())["training"]["encoder"]
    assert enc["kind"] == "finetuned" and enc["layers"] == 1 and caches.encoders.get(enc["encoder_key"])
    assert "fine-tuned on these intents" in (out / "MODEL_CARD.md").read_text()
    assert StudentModel.load(out).rank("can i hire a bike")[0].intent == "rent_bike"

    # a change that leaves the encoder's own examples alone (here the card's held-out check)
    # retrains the student on the cached encoder, without fine-tuning again
    lines.clear()
    train_student(flow, root, recipe, out=tmp_path / "other" / "student", caches=caches, holdout=0.2, log=lines.append)
    assert any("fine-tuned encoder from the cache" in line for line in lines)
    assert not any(line.startswith("[finetune]") for line in lines)

    monkeypatch.setenv("CALLFLOWS_BUILT_DIR", str(built))
    monkeypatch.setattr("callflows.vertical_paths.list_verticals", lambda: ["bike_shop", "nowhere"])
    result = CliRunner().invoke(models, ["status", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["vertical"]: r for r in map(json.loads, result.output.splitlines()) if r.get("kind") == "student"}
    assert rows["bike_shop"]["encoder"] == "fine-tuned" and rows["bike_shop"]["present"]
    assert rows["nowhere"]["present"] is False


def test_without_torch_the_install_is_told_to_install_it_unless_fine_tuning_is_off(tmp_path, monkeypatch):
    _embedder_or_skip()
    from callflows.distill import encoder
    from callflows.distill.encoder import TorchMissing
    from callflows.distill.train import train_student

    monkeypatch.setattr(encoder, "_torch_importable", lambda: False)  # as on a machine without torch
    monkeypatch.delenv("CALLFLOWS_FINETUNE", raising=False)
    flow, root = _vertical(tmp_path)
    with pytest.raises(TorchMissing):
        train_student(flow, root, Recipe(), out=tmp_path / "s", caches=_caches(tmp_path), require_torch=True,
                      holdout=0, log=lambda _: None)
    # without require_torch (a developer's `callflows distill`): the frozen encoder, said so
    lines: list[str] = []
    out = train_student(flow, root, Recipe(), out=tmp_path / "s", holdout=0, log=lines.append)
    assert json.loads((out / "card.json").read_text())["training"]["encoder"]["kind"] == "frozen"
    assert any("torch is not installed" in line for line in lines)


def test_the_install_pins_the_torch_build_the_cache_keys_name():
    from callflows.distill.encoder import TORCH_VERSION

    script = (REPO / "scripts" / "install.sh").read_text()
    assert set(re.findall(r"torch==([0-9.]+)", script)) == {TORCH_VERSION}


def test_fine_tuning_leaves_out_the_calibration_tenth_and_can_add_the_negatives_as_a_class():
    from callflows.distill.train import TrainingData, finetune_examples
    from callflows.nlu.student import OOS, calibration_holdout

    data = TrainingData()
    for i in range(60):
        data.add(f"book a repair number {i}", "book_repair", False, "t")
        data.add(f"rent a bike number {i}", "rent_bike", False, "t")
    data.oos = [f"what is the weather in city {i}" for i in range(500)]
    held = {t for t, c in zip(data.texts, calibration_holdout(data.labels, data.groups)) if c}
    texts, labels = finetune_examples(data, Recipe())
    assert held and not held & set(texts) and OOS not in labels and len(texts) == 120 - len(held)
    texts2, labels2 = finetune_examples(data, replace(Recipe(), finetune_oos=True))
    assert texts2[: len(texts)] == texts and labels2.count(OOS) == len(texts)  # as many negatives as intents' examples
    assert set(texts2[len(texts):]) <= set(data.oos)
