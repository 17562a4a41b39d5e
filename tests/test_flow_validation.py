"""Flow validation: every error names the file, the exact line and the field; `callflows flows`.

Each file in tests/data/broken_flows/ has one problem, on the line marked `# <- error`
(several_errors.yaml marks each line with the field expected there).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from callflows.cli.flows import flows
from callflows.flow.errors import FlowErrors
from callflows.flow.loader import load_flow, load_flow_text

ROOT = Path(__file__).resolve().parent.parent
BROKEN = Path(__file__).resolve().parent / "data" / "broken_flows"
DENTAL = ROOT / "verticals" / "dental_clinic" / "flow.yaml"
MARK = "# <- error"


def marked_lines(path: Path) -> list[tuple[int, str]]:
    """(1-based line, text after the marker) of each marked line."""
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if MARK in line:
            out.append((number, line.split(MARK, 1)[1].lstrip(": ").strip()))
    return out


def errors_of(path: Path) -> list:
    with pytest.raises(FlowErrors) as info:
        load_flow(path)
    return info.value.errors


CASES = [
    # (flow file, file the error is in, field, words of the message)
    ("unknown_slot_type.yaml", None, "slots.date.type", "unknown slot type 'datee'"),
    ("prompt_missing.yaml", None, "forms.book.steps[1].prompt", "prompt missing for slot 'time'"),
    ("undefined_form_slot.yaml", None, "forms.book.steps[1].slot", "undefined slot 'colour'"),
    ("bad_template_variable.yaml", None, "responses.booked[1]", "bad template variable 'tiem'"),
    ("bad_template_syntax.yaml", None, "forms.book.steps[1].prompt", "bad template"),
    ("yaml_syntax.yaml", None, "yaml", "syntax error"),
    ("enum_without_choices.yaml", None, "slots.service.choices", "enum slot needs choices"),
    ("unknown_top_level_field.yaml", None, "greeting", "unknown field"),
    ("intent_without_examples.yaml", None, "intents.hours.examples", "needs examples"),
    ("change_words_unknown_slot.yaml", None, "forms.book.confirm.change_words.day",
     "slot 'day' is not defined"),
    ("knowledge_missing_answer.yaml", "knowledge_missing_answer.knowledge.yaml", "faq[1].answer",
     "is required"),
]


@pytest.mark.parametrize("flow_file, error_file, field, words", CASES, ids=[c[0] for c in CASES])
def test_one_problem_one_error_with_file_line_and_field(flow_file, error_file, field, words):
    path = BROKEN / flow_file
    in_file = BROKEN / (error_file or flow_file)
    [(line, _)] = marked_lines(in_file)
    errors = errors_of(path)
    assert len(errors) == 1, "\n".join(map(str, errors))  # one problem, no cascade
    error = errors[0]
    assert Path(error.file) == in_file
    assert error.line == line
    assert error.field == field
    assert words in error.message
    assert str(error).startswith(f"{in_file}:{line}: {field}: ")


def test_several_errors_in_one_file_are_all_reported():
    path = BROKEN / "several_errors.yaml"
    expected = marked_lines(path)
    assert len(expected) == 6
    errors = errors_of(path)
    assert sorted((e.line, e.field) for e in errors) == sorted(expected)
    assert all(e.file == str(path) for e in errors)


def test_yaml_syntax_error_names_the_line_even_from_text():
    text = (BROKEN / "yaml_syntax.yaml").read_text(encoding="utf-8")
    with pytest.raises(FlowErrors) as info:
        load_flow_text(text, "inline.yaml")
    [error] = info.value.errors
    assert (error.file, error.line, error.field) == ("inline.yaml", marked_lines(BROKEN / "yaml_syntax.yaml")[0][0], "yaml")


def test_a_flow_that_is_not_a_mapping():
    with pytest.raises(FlowErrors) as info:
        load_flow_text("- just\n- a list\n", "list.yaml")
    assert str(info.value.errors[0]).startswith("list.yaml:1: file:")


def test_dental_clinic_flow_validates():
    flow = load_flow(DENTAL)
    assert flow.vertical == "dental_clinic"
    assert {"book_appointment", "reschedule_appointment", "cancel_appointment"} <= set(flow.forms)
    assert flow.faq


# ---------------------------------------------------------------------------- the CLI

GOOD_FLOW = """\
vertical: good
timezone: America/New_York
slots:
  date:
    type: date
intents:
  book:
    examples: [i want to book, book me in]
forms:
  book:
    intent: book
    steps:
      - slot: date
        prompt: What day?
    action: action_book
"""

ACTIONS = """\
from rasa_sdk import Action, FormValidationAction


class ActionBook(Action):
    def name(self):
        return "action_book"

    def run(self, dispatcher, tracker, domain):
        return []


class ValidateBook(FormValidationAction):
    def name(self):
        return "validate_book"
"""


def make_vertical(base: Path, name: str, flow_text: str, actions: str | None = None) -> Path:
    root = base / name
    root.mkdir(parents=True)
    (root / "flow.yaml").write_text(flow_text, encoding="utf-8")
    if actions is not None:
        (root / "actions.py").write_text(actions, encoding="utf-8")
    return root


@pytest.fixture()
def vdir(tmp_path, monkeypatch) -> Path:
    base = tmp_path / "verticals"
    base.mkdir()
    monkeypatch.setenv("CALLFLOWS_VERTICALS_DIR", str(base))
    return base


def run(*args: str):
    return CliRunner().invoke(flows, list(args), catch_exceptions=False)


def test_cli_validate_prints_error_lines_and_exits_1_without_traceback(vdir):
    make_vertical(vdir, "good", GOOD_FLOW, ACTIONS)
    for name in ("prompt_missing", "several_errors"):
        make_vertical(vdir, name, (BROKEN / f"{name}.yaml").read_text(encoding="utf-8"))
    result = run("validate")
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "ok  good  (1 intents, 1 forms, 1 slots)" in result.output
    prompt_missing = vdir / "prompt_missing" / "flow.yaml"
    [(line, _)] = marked_lines(prompt_missing)
    assert f"{prompt_missing}:{line}: forms.book.steps[1].prompt: prompt missing for slot 'time'" in result.output
    several = vdir / "several_errors" / "flow.yaml"
    for line, field in marked_lines(several):
        assert f"{several}:{line}: {field}: " in result.output


def test_cli_validate_a_good_vertical_exits_0(vdir):
    make_vertical(vdir, "good", GOOD_FLOW, ACTIONS)
    make_vertical(vdir, "bad", (BROKEN / "enum_without_choices.yaml").read_text(encoding="utf-8"))
    result = run("validate", "good")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "ok  good  (1 intents, 1 forms, 1 slots)"


def test_cli_validate_the_shipped_verticals(monkeypatch):
    monkeypatch.delenv("CALLFLOWS_VERTICALS_DIR", raising=False)
    result = run("validate", "dental_clinic")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok  dental_clinic  (")


def test_cli_validate_unknown_vertical(vdir):
    make_vertical(vdir, "good", GOOD_FLOW)
    result = run("validate", "nope")
    assert result.exit_code == 1
    assert "no flow.yaml" in result.output and "good" in result.output
    assert "Traceback" not in result.output


def test_cli_validate_checks_form_actions_and_validators_exist(vdir):
    flow = GOOD_FLOW.replace("action: action_book", "action: action_bok\n    validator: validate_booking")
    root = make_vertical(vdir, "typo", flow, ACTIONS)
    result = run("validate", "typo")
    assert result.exit_code == 1
    lines = (root / "flow.yaml").read_text().splitlines()
    action_line = next(i for i, text in enumerate(lines, 1) if "action: action_bok" in text)
    assert (f"{root / 'flow.yaml'}:{action_line}: forms.book.action: 'action_bok' is not an action "
            "defined in actions.py (defined: action_book, validate_book)") in result.output
    assert f"{root / 'flow.yaml'}:{action_line + 1}: forms.book.validator: 'validate_booking'" in result.output


def test_cli_validate_skips_the_action_check_without_actions_py(vdir):
    make_vertical(vdir, "noactions", GOOD_FLOW.replace("action_book", "action_elsewhere"))
    assert run("validate", "noactions").exit_code == 0


def test_cli_validate_reports_a_broken_actions_module(vdir):
    root = make_vertical(vdir, "brokenpy", GOOD_FLOW, "from rasa_sdk import Action\n\ndef oops(:\n")
    result = run("validate", "brokenpy")
    assert result.exit_code == 1
    assert f"{root / 'actions.py'}:3: actions: cannot be imported: SyntaxError" in result.output
    assert "Traceback" not in result.output


def test_cli_show(vdir):
    make_vertical(vdir, "good", GOOD_FLOW)
    result = run("show", "good")
    assert result.exit_code == 0, result.output
    assert "book: on intent book: date -> action_book" in result.output
    assert "date: date" in result.output


def test_cli_is_registered_on_the_main_command(vdir):
    from callflows.cli.main import cli

    make_vertical(vdir, "bad", (BROKEN / "unknown_top_level_field.yaml").read_text(encoding="utf-8"))
    result = CliRunner().invoke(cli, ["flows", "validate"])
    assert result.exit_code == 1
    assert re.search(r"bad/flow\.yaml:4: greeting: unknown field", result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit)
