"""Out-of-scope rejection per vertical (issue 16, item 2): the training recipe draws negatives from
other domains and never from what the evaluation holds out; a hotel student built by the
product's training code from that recipe (real MiniLM encoder, fewer CLINC150 rows an intent to
stay fast), loaded as the dialogue loads it, rejects clearly other-domain requests, keeps the
hotel's own, and leaves small talk and "hold on" to the dialogue."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from callflows.distill.negatives import (CLINC150_DOMAIN_OF, CLINC150_DOMAINS, UNSEEN_INTENTS, OtherDomains,
                                         other_domain_negatives)
from callflows.distill.recipe import Recipe, RecipeError

REPO = Path(__file__).resolve().parents[1]
VERTICALS = REPO / "verticals"


def _data_or_skip() -> None:
    from callflows.eval.data import data_dir

    try:
        data_dir()
    except FileNotFoundError as exc:
        pytest.skip(f"development data not found: {exc}")


def test_clinc150_domain_list_covers_the_data_set_and_holds_out_whole_intents():
    _data_or_skip()
    from callflows.eval.data import clinc_split

    assert all(len(intents) == 15 for intents in CLINC150_DOMAINS.values())
    assert set(CLINC150_DOMAIN_OF) == {label for _, label in clinc_split()["train"]}
    assert all(len(UNSEEN_INTENTS & set(intents)) == 3 for intents in CLINC150_DOMAINS.values())


def test_every_vertical_recipe_draws_negatives_from_other_domains_never_from_the_held_out_part():
    _data_or_skip()
    for vertical, own_domain, other_nlupp in (("retail_bank", "banking", "hotels"), ("hotel", None, "banking"),
                                              ("dental_clinic", None, "hotels")):
        spec = Recipe.load(VERTICALS / vertical).oos_other_domains
        assert spec is not None, vertical
        train = other_domain_negatives(spec, "train", VERTICALS)
        held = other_domain_negatives(spec, "heldout", VERTICALS)
        sources = {n.source for n in train}
        # CLINC150's other domains (travel, cooking, small talk, utilities...), NLU++ of the other
        # business, and the other verticals' own tasks
        for domain in ("travel", "kitchen_dining", "small_talk", "utility"):
            assert f"clinc150:{domain}" in sources, (vertical, domain)
        assert f"nlupp:{other_nlupp}" in sources, vertical
        assert {s for s in sources if s.startswith("vertical:")} == {f"vertical:{v}" for v in spec.verticals}
        assert vertical not in spec.verticals
        if own_domain:
            assert f"clinc150:{own_domain}" not in sources
        assert not {n.text for n in train} & {n.text for n in held}, vertical
        assert not any(n.unseen for n in train) and any(n.unseen for n in held)
        assert len(held) > 1000


def test_hotel_negatives_leave_out_its_own_business_and_what_every_vertical_answers():
    _data_or_skip()
    from callflows.eval.data import clinc_split

    spec = Recipe.load(VERTICALS / "hotel").oos_other_domains
    assert spec is not None
    train = {n.text for n in other_domain_negatives(spec, "train", VERTICALS)}
    by_intent: dict[str, set[str]] = {}
    from callflows.nlu.values import normalize_asr

    for text, intent in clinc_split()["train"]:
        by_intent.setdefault(intent, set()).add(normalize_asr(text))
    for intent in ("book_hotel", "cancel_reservation", "greeting", "thank_you", "are_you_a_bot", "yes", "repeat"):
        assert not by_intent[intent] & train, intent
    assert by_intent["book_flight"] & train and by_intent["recipe"] & train


def test_collect_adds_other_domain_negatives_with_asr_copies_and_never_the_verticals_own_words(tmp_path):
    _data_or_skip()
    from callflows.distill.train import collect
    from callflows.flow.loader import load_flow

    root = VERTICALS / "hotel"
    recipe = replace(Recipe.load(root), oos_other_domains=replace(Recipe.load(root).oos_other_domains,
                                                                   clinc150_per_intent=3))
    data = collect(load_flow(root / "flow.yaml"), root, recipe, log=lambda m: None)
    assert data.counts["oos:clinc150"] > 100 and data.counts["oos:clinc150:asr"] > 100
    assert data.counts["oos:nlupp"] > 50 and data.counts["oos:vertical"] > 50
    assert not set(data.oos) & set(data.texts)
    before = collect(load_flow(root / "flow.yaml"), root, replace(recipe, oos_other_domains=None), log=lambda m: None)
    assert len(before.oos) == 100  # CLINC150 oos_train only


def test_recipe_errors_name_the_key(tmp_path):
    (tmp_path / "distill.yaml").write_text("oos_other_domains:\n  clinc150_exclude: [cooking]\n")
    with pytest.raises(RecipeError, match="oos_other_domains.*cooking"):
        Recipe.load(tmp_path)
    (tmp_path / "distill.yaml").write_text("oos_other_domains: [hotels]\n")
    with pytest.raises(RecipeError, match="oos_other_domains must be a mapping"):
        Recipe.load(tmp_path)
    (tmp_path / "distill.yaml").write_text("oos_other_domains:\n  nlupp: [hotels]\n  verticals: [hotel]\n")
    recipe = Recipe.load(tmp_path)
    assert recipe.oos_other_domains == OtherDomains(nlupp=("hotels",), verticals=("hotel",))


OTHER_DOMAIN = (
    "book me a flight to denver for next week",
    "how long do i boil an egg",
    "what is my credit score",
    "set an alarm for six thirty",
    "i need to reschedule my dental cleaning",
    "my debit card was stolen",
    "how does a democracy work",
    "what's the weather going to be like tomorrow",
)
IN_SCOPE = (
    ("i'd like to book a room for two nights", "book_room"),
    ("i need to cancel my reservation", "cancel_reservation"),
    ("can i change the dates of my booking", "change_reservation"),
    ("the air conditioning in my room is broken", "report_problem"),
)


@pytest.fixture(scope="module")
def hotel_student(tmp_path_factory):
    """The hotel's student from its own recipe, by the product's training code, saved and loaded back."""
    pytest.importorskip("onnxruntime")
    _data_or_skip()
    from callflows.distill.train import train_student
    from callflows.flow.loader import load_flow
    from callflows.nlu.student import StudentModel

    try:
        from callflows.nlu.embeddings import default_fast_embedder

        embedder = default_fast_embedder(threads=2)
    except FileNotFoundError as exc:
        pytest.skip(f"no embedding model: {exc}")
    root = VERTICALS / "hotel"
    recipe = Recipe.load(root)
    assert recipe.oos_other_domains is not None
    small = replace(recipe, finetune_layers=0,
                    oos_other_domains=replace(recipe.oos_other_domains, clinc150_per_intent=8))
    flow = load_flow(root / "flow.yaml")
    path = train_student(flow, root, small, out=tmp_path_factory.mktemp("hotel") / "student", embedder=embedder,
                         holdout=0, log=lambda m: None)
    return flow, StudentModel.load(path)


def test_built_hotel_student_rejects_other_domains_and_keeps_its_own(hotel_student):
    from callflows.nlu.pipeline import GREET, OUT_OF_SCOPE, VerticalNLU, clear_faq_score
    from callflows.nlu.values import ParseContext

    flow, student = hotel_student
    assert student.card["training"]["oos_negatives"] > 2000  # other domains' requests, not only oos_train
    nlu = VerticalNLU(flow, student=student)
    ctx = ParseContext(now=datetime(2026, 12, 1, 10, 0, tzinfo=ZoneInfo(flow.timezone)))
    for text in OTHER_DOMAIN:
        result = nlu.parse(text, ctx, slots=[])
        assert result.intent == OUT_OF_SCOPE, (text, result.ranking[:2])
        assert result.faq is None or result.faq.score >= clear_faq_score(flow.settings.faq_threshold), (text, result.faq)
    for text, intent in IN_SCOPE:
        result = nlu.parse(text, ctx, slots=[])
        assert result.intent == intent and result.confidence >= flow.settings.confidence_threshold, (text, result.ranking[:2])
    for text in ("hello there", "good morning", "are you a robot", "can you hear me"):
        assert nlu.parse(text, ctx, slots=[]).intent == GREET, text
    assert nlu.parse("what time is check in", ctx, slots=[]).faq is not None  # a question for the knowledge file


def test_through_a_call_other_domains_start_nothing_and_small_talk_is_answered(hotel_student):
    from callflows.eval.vertical_oos import SMALL_TALK, CallProbe, expected_outcome

    flow, student = hotel_student
    probe = CallProbe("hotel", VERTICALS / "hotel", flow, student)
    for text in OTHER_DOMAIN:
        assert probe.outcome(text) == "rejected", text
    for text, intent in IN_SCOPE:
        assert probe.outcome(text) == expected_outcome(flow, intent), text
    for text in SMALL_TALK:  # greetings, thanks, "are you a robot", "hold on": answered, never a miss or a request
        assert probe.outcome(text) == "chat", text


def test_hotel_trains_on_real_guests_tasks_from_the_train_folds_only():
    """NLU++ hotels requests labelled with the hotel's tasks by rules: train folds in the recipe,
    validation folds only in the evaluation's in-scope set."""
    _data_or_skip()
    from callflows.distill.recipe import DataSource, nlupp_hotel_task, read_source
    from callflows.eval.data import nlupp_split

    assert nlupp_hotel_task({"booking", "cancel_close_leave_freeze", "how"}) == "cancel_reservation"
    assert nlupp_hotel_task({"booking", "make_open_apply_setup_get_activate"}) == "book_room"
    assert nlupp_hotel_task({"booking", "make_open_apply_setup_get_activate", "restaurant"}) is None
    assert nlupp_hotel_task({"wifi", "wrong_notworking_notshowing"}) == "report_problem"
    assert nlupp_hotel_task({"wifi", "how"}) is None
    recipe = Recipe.load(VERTICALS / "hotel")
    assert DataSource(path="nlupp_hotel_tasks", format="split") in recipe.datasets
    rows = read_source(DataSource(path="nlupp_hotel_tasks", format="split"), VERTICALS / "hotel")
    assert {label for _, label in rows} == {"book_room", "change_reservation", "cancel_reservation", "report_problem"}
    val = {e["text"] for e in nlupp_split()[1]}
    assert len(rows) > 40 and not {text for text, _ in rows} & val
