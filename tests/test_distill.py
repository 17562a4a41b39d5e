"""`callflows distill`: a tiny run end to end with the real smallest LLM, resume, filters,
the recipe's errors, and the built student used by the vertical's NLU."""

from __future__ import annotations

import json
import textwrap
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from callflows.distill.datafile import DATA_FILE, DistilledFile
from callflows.distill.filtering import IntentFilter, parse_back
from callflows.distill.recipe import Recipe, RecipeError
from callflows.distill.run import distill, plan, run_task
from callflows.distill.teacher import Teacher, _clean
from callflows.flow.loader import load_flow
from callflows.llm.base import Completion

FLOW = textwrap.dedent("""\
    vertical: tiny_shop
    display_name: Tiny Shop
    timezone: America/New_York
    slots:
      date:
        type: date
      size:
        type: enum
        choices:
          small: [small, little]
          large: [large, big]
    intents:
      order_pizza:
        examples:
          - i want to order a pizza
          - can i get a pizza delivered
          - i'd like a large pepperoni pizza
          - pizza for delivery please
      track_order:
        examples:
          - where is my order
          - my pizza hasn't arrived yet
          - how long until my delivery gets here
          - can you check on my order
    forms:
      order_pizza:
        intent: order_pizza
        steps:
          - slot: size
            prompt: What size would you like, small or large?
          - slot: date
            prompt: For which day?
    knowledge: knowledge.yaml
    responses:
      greet:
        - Tiny Shop, how can I help?
    """)
KNOWLEDGE = textwrap.dedent("""\
    faq:
      - id: hours
        questions: [what are your opening hours, when are you open]
        answer: We are open from eleven to eleven.
    """)
RECIPE = "per_intent: 4\nper_slot: 4\nbatch: 4\nteacher: tiny\nintents:\n  order_pizza: the caller wants to order a pizza\n"


@pytest.fixture()
def tiny_vertical(tmp_path: Path) -> Path:
    root = tmp_path / "tiny_shop"
    root.mkdir()
    (root / "flow.yaml").write_text(FLOW)
    (root / "knowledge.yaml").write_text(KNOWLEDGE)
    (root / "distill.yaml").write_text(RECIPE)
    return root


class Counting:
    """Wraps an LLM and counts the calls that reach it."""

    def __init__(self, llm):
        self.llm, self.calls, self.name = llm, 0, "counting"

    def complete(self, *args, **kwargs):
        self.calls += 1
        return self.llm.complete(*args, **kwargs)


@pytest.fixture(scope="module")
def tiny_llm():
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (scripts/install.sh llama)")
    from callflows.llm import LlamaCppLLM
    from callflows.models import Manifest

    llm = LlamaCppLLM(Manifest.load().resolve("llm_tiny", install=True), n_ctx=2048, n_threads=2)
    yield llm
    llm.close()


def test_tiny_distillation_end_to_end_with_the_real_small_llm_then_resume(tiny_vertical, tiny_llm, tmp_path):
    flow = load_flow(tiny_vertical / "flow.yaml")
    recipe = Recipe.load(tiny_vertical)
    tasks = plan(flow, tiny_vertical, recipe)
    kinds = {t.kind for t in tasks}
    assert kinds == {"expand", "answer"}
    assert {t.slot for t in tasks if t.kind == "answer"} == {"size", "date"}
    teacher = Counting(tiny_llm)
    lines = []
    out = tmp_path / "student"
    # first run stops after 3 tasks (as if killed), without training
    first = distill(flow, tiny_vertical, teacher_llm=teacher, recipe=recipe, limit=3, train=False, log=lines.append)
    assert first.tasks_run == 3 and teacher.calls >= 3
    data = DistilledFile(tiny_vertical / DATA_FILE)
    assert len(data.done_tasks()) == 3
    assert any("eta" in line for line in lines)  # progress is shown
    # the second run does only what is left, then trains the student
    calls_before = teacher.calls
    second = distill(flow, tiny_vertical, teacher_llm=teacher, recipe=recipe, out=out, log=lines.append)
    assert second.tasks_done_before == 3 and second.tasks_run == len(tasks) - 3
    assert data.done_tasks() == {t.id for t in tasks}
    assert teacher.calls - calls_before >= len(tasks) - 3
    # whatever was kept passed the filters: slot rows parse back to their value at their span
    for record in data.records():
        if record.get("kind") == "slot":
            slot, start, end = record["slots"][0]
            assert 0 <= start < end <= len(record["text"])
        if record.get("kind") == "intent":
            assert record["intent"] in {"order_pizza", "track_order", "faq", "affirm", "deny", "help", "repeat",
                                        "start_over", "human", "goodbye"}
    # a third run asks the teacher nothing
    calls_before = teacher.calls
    third = distill(flow, tiny_vertical, teacher_llm=teacher, recipe=recipe, train=False, log=lines.append)
    assert third.tasks_run == 0 and teacher.calls == calls_before
    # the student and its card
    card = json.loads((out / "card.json").read_text())
    assert DATA_FILE in " ".join(card["data_sha256"]) and card["size_bytes"] < 50e6
    assert (out / "MODEL_CARD.md").exists()
    from callflows.nlu.pipeline import VerticalNLU
    from callflows.nlu.student import StudentModel
    from callflows.nlu.values import ParseContext

    nlu = VerticalNLU(flow, student=StudentModel.load(out))
    ctx = ParseContext(now=datetime(2026, 1, 5, 10, tzinfo=ZoneInfo("America/New_York")))
    assert nlu.parse("hi i would like to order a big pizza", ctx).intent == "order_pizza"
    assert nlu.parse("where's my delivery it hasn't come", ctx).intent == "track_order"
    assert nlu.parse("when are you open", ctx).faq.entry.id == "hours"


class FakeLLM:
    """Answers every request with the same JSON: for the filter and bookkeeping tests only."""

    name = "fake"

    def __init__(self, text: str):
        self.text, self.calls = text, 0

    def complete(self, messages, **kwargs):
        self.calls += 1
        return Completion(self.text, 10, 10, 0.01, "stop")


REAL = ["uh where's my pizza it's been an hour", "are you open on sundays", "what's the weather like tomorrow"]


def test_unlabelled_real_utterances_are_labelled_by_the_real_small_llm(tiny_vertical, tiny_llm):
    (tiny_vertical / "real.txt").write_text("\n".join(REAL) + "\n")
    (tiny_vertical / "distill.yaml").write_text("per_intent: 0\nper_slot: 0\nteacher: tiny\nunlabelled: real.txt\n")
    flow = load_flow(tiny_vertical / "flow.yaml")
    recipe = Recipe.load(tiny_vertical)
    tasks = plan(flow, tiny_vertical, recipe)
    assert [(t.kind, t.text) for t in tasks] == [("label", text) for text in REAL]
    report = distill(flow, tiny_vertical, teacher_llm=Counting(tiny_llm), recipe=recipe, train=False, log=lambda _: None)
    assert report.tasks_run == 3
    data = DistilledFile(tiny_vertical / DATA_FILE)
    assert data.done_tasks() == {"label:0", "label:1", "label:2"}
    rows = [r for r in data.records() if r.get("kind") == "intent"]
    # whatever the small model chose is one of the flow's goals or a knowledge question; "none" is dropped
    assert all(r["text"] in REAL and r["source"] == "teacher_label" for r in rows)
    assert all(r["intent"] in {"order_pizza", "track_order", "faq"} for r in rows)


def test_the_labelling_prompt_offers_the_knowledge_file_and_a_data_source_can_be_unlabelled(tiny_vertical):
    from callflows.distill.recipe import DataSource

    (tiny_vertical / "real.txt").write_text("are you open on sundays\n")
    (tiny_vertical / "distill.yaml").write_text("per_intent: 0\nper_slot: 0\nunlabelled: real.txt\n")
    flow = load_flow(tiny_vertical / "flow.yaml")
    seen = []

    class Recording(FakeLLM):
        def complete(self, messages, **kwargs):
            seen.append(messages[-1]["content"])
            return super().complete(messages, **kwargs)

    distill(flow, tiny_vertical, teacher_llm=Recording('{"intent": "faq"}'), train=False, log=lambda _: None)
    assert "- faq: a question about the business itself" in seen[0] and "- none: none of these" in seen[0]
    [row] = [r for r in DistilledFile(tiny_vertical / DATA_FILE).records() if r.get("kind") == "intent"]
    assert (row["text"], row["intent"]) == ("are you open on sundays", "faq")
    # a labelled data source can be used as unlabelled text (its labels are ignored)
    (tiny_vertical / "distill.yaml").write_text(
        "unlabelled: {path: real.jsonl, format: jsonl, text: t, label: l, limit_per_label: 1}\n")
    (tiny_vertical / "real.jsonl").write_text('{"t": "a", "l": "x"}\n{"t": "b", "l": "x"}\n{"t": "c", "l": "y"}\n')
    recipe = Recipe.load(tiny_vertical)
    assert recipe.unlabelled == DataSource("real.jsonl", format="jsonl", text="t", label="l", limit_per_label=1)
    assert [t.text for t in plan(flow, tiny_vertical, recipe) if t.kind == "label"] == ["a", "c"]


def test_teacher_output_is_filtered_duplicates_and_wrong_intents_dropped(tiny_vertical):
    flow = load_flow(tiny_vertical / "flow.yaml")
    recipe = Recipe(per_intent=4, per_slot=0, batch=4, asr_fraction=0.0)
    llm = FakeLLM(json.dumps({"utterances": ["i want to order a pizza", "where is my pizza order",
                                             "could i order a pizza for tonight", "Sure! here are some"]}))
    seeds = [(e, i.name) for i in flow.intents.values() for e in i.examples]
    ifilter = IntentFilter([t for t, _ in seeds], [lab for _, lab in seeds], top_k=1)
    task = next(t for t in plan(flow, tiny_vertical, recipe) if t.intent == "order_pizza")
    rows, dropped = run_task(task, Teacher(llm, "Tiny Shop"), flow, ifilter, recipe, {})
    # the seed copy, the other intent's utterance and the meta-talk are dropped
    assert [r["text"] for r in rows] == ["could i order a pizza for tonight"] and dropped == 2
    assert rows[0]["intent"] == "order_pizza"


def test_slot_answers_are_kept_only_when_the_value_parses_back(tiny_vertical):
    flow = load_flow(tiny_vertical / "flow.yaml")
    now = datetime(2026, 1, 5, 9, tzinfo=ZoneInfo("America/New_York"))
    assert parse_back(flow, "date", "make it january fourteenth please", "2026-01-14", now) is not None
    assert parse_back(flow, "date", "make it january fifteenth please", "2026-01-14", now) is None
    span = parse_back(flow, "size", "a big one please", "large", now)
    assert span is not None and "a big one please"[span[0]:span[1]] == "big"


def test_intent_filter_needs_the_seed_classifier_to_agree():
    f = IntentFilter(["book a room", "reserve a room for tonight", "cancel my booking", "i want to cancel"],
                     ["book", "book", "cancel", "cancel"], top_k=1)
    assert f.keep("please reserve me a room", "book") == (True, "ok")
    assert f.keep("please reserve me a room", "book") == (False, "duplicate")
    assert f.keep("i need to cancel the booking", "book")[1] == "seed_classifier_disagrees"


def test_teacher_keeps_complete_strings_of_a_cut_off_answer():
    llm = FakeLLM('{"utterances": ["i lost my card", "my card is gone and i need a new o')
    assert Teacher(llm, "Bank").expand("lost_card", "", ["i lost my card"], 4) == ["i lost my card"]
    assert _clean(["Here are some examples", "  my card was stolen  ", 7]) == ["my card was stolen"]


def test_a_bad_recipe_names_the_file_and_key(tmp_path):
    (tmp_path / "distill.yaml").write_text("per_intnet: 4\n")
    with pytest.raises(RecipeError, match=r"distill.yaml: unknown key\(s\) \['per_intnet'\]"):
        Recipe.load(tmp_path)
    (tmp_path / "distill.yaml").write_text("per_intent: -1\n")
    with pytest.raises(RecipeError, match="per_intent"):
        Recipe.load(tmp_path)


def test_cli_distill_unknown_vertical_is_a_clear_error():
    from callflows.cli.main import cli

    result = CliRunner().invoke(cli, ["distill", "no_such_vertical"])
    assert result.exit_code != 0 and "no vertical 'no_such_vertical'" in result.output
