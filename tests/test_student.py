"""Student model: train/predict round trip, save/load with a model card, OOS, ASR-style text."""

from __future__ import annotations

import json

import pytest

from callflows.nlu.asr_style import AsrStyler, spoken_form, to_asr, to_asr_spans
from callflows.nlu.classifier import IntentScore

TEXTS = {
    "lost_card": ["i lost my card", "my card was stolen", "someone stole my card", "i can't find my bank card",
                  "my debit card is missing", "card lost yesterday", "i think i lost my credit card",
                  "report a stolen card", "my wallet with my card was taken", "where is my card i lost it"],
    "balance": ["what is my balance", "how much money do i have", "check my balance please", "balance inquiry",
                "how much is in my account", "tell me my account balance", "what's left in my checking account",
                "current balance please", "can you read me my balance", "how much do i have in savings"],
    "book": ["book a table for 4 on friday", "reserve a room for two people tomorrow", "i need a room for 3 on march 5th",
             "make a reservation for tonight", "can i book for saturday", "i want to book an appointment",
             "reserve for six people on monday", "book me in for next week", "a booking for two please",
             "schedule a visit on tuesday"],
}
TAGGED = [
    ("book a table for 4 on friday", [("people", 17, 18), ("date", 22, 28)]),
    ("reserve a room for two people tomorrow", [("people", 19, 29), ("date", 30, 38)]),
    ("i need a room for 3 on march 5th", [("people", 18, 19), ("date", 23, 32)]),
    ("a table for 6 on monday please", [("people", 12, 13), ("date", 17, 23)]),
    ("for 2 on sunday", [("people", 4, 5), ("date", 9, 15)]),
]


def _data():
    texts, labels = [], []
    for lab, ex in TEXTS.items():
        texts += ex
        labels += [lab] * len(ex)
    return texts, labels


@pytest.fixture(scope="module")
def student():
    pytest.importorskip("onnxruntime")
    from callflows.nlu.student import StudentModel

    try:
        from callflows.nlu.embeddings import default_fast_embedder

        default_fast_embedder()
    except FileNotFoundError as exc:
        pytest.skip(f"no embedding model: {exc}")
    texts, labels = _data()
    model = StudentModel().fit(texts, labels, oos_texts=["what's the weather", "tell me a joke", "who won the match"])
    return model.fit_tagger(TAGGED)


def test_rank_follows_protocol(student):
    ranking = student.rank("i have lost my card", top=3)
    assert isinstance(ranking[0], IntentScore)
    assert ranking[0].intent == "lost_card"
    assert 0.0 <= ranking[0].confidence <= 1.0
    assert len(ranking) <= 3
    assert student.predict(["how much money is in my account"]) == ["balance"]


def test_out_of_scope_fires_on_unrelated_sentence(student):
    from callflows.nlu.student import OOS

    top = student.rank("what is the capital of france")[0]
    assert top.intent == OOS
    assert top.confidence > 0.5


def test_tagger_spans(student):
    spans = student.tag("a table for 4 on friday")
    text = "a table for 4 on friday"
    assert ("people", "4") in [(lab, text[s:e]) for lab, s, e in spans]
    assert ("date", "friday") in [(lab, text[s:e]) for lab, s, e in spans]


def test_save_load_round_trip_and_model_card(student, tmp_path):
    from callflows.nlu.student import StudentModel

    student.save(tmp_path / "m", metrics={"toy_accuracy": 1.0}, name="toy")
    loaded = StudentModel.load(tmp_path / "m")
    for text in ["i lost my card", "what is my balance", "book for friday", "tell me a joke"]:
        assert loaded.rank(text)[0].intent == student.rank(text)[0].intent
        assert loaded.rank(text)[0].confidence == pytest.approx(student.rank(text)[0].confidence, abs=1e-4)
    assert loaded.tag("a table for 4 on friday") == student.tag("a table for 4 on friday")
    card = json.loads((tmp_path / "m" / "card.json").read_text())
    assert card["metrics"] == {"toy_accuracy": 1.0}
    assert len(card["data_sha256"]["intent_data_sha256"]) == 64
    assert card["size_bytes"] < 50_000_000
    assert card["date"]
    md = (tmp_path / "m" / "MODEL_CARD.md").read_text()
    assert "toy_accuracy" in md and "sha256" in md


def test_tfidf_only_student_without_embeddings(tmp_path):
    from callflows.nlu.student import StudentModel

    texts, labels = _data()
    model = StudentModel(use_embeddings=False).fit(texts, labels, calibrate=False)
    assert model.rank("my card was stolen")[0].intent == "lost_card"
    model.save(tmp_path / "s")
    assert StudentModel.load(tmp_path / "s").rank("my card was stolen")[0].intent == "lost_card"


@pytest.mark.parametrize("text, expected", [
    ("My card for $25 arrived on March 5th at 3:30pm?", "my card for twenty five dollars arrived on march fifth at three thirty pm"),
    ("I'll be there at 9:05 a.m.", "i'll be there at nine oh five am"),
    ("16:00", "sixteen hundred"),
    ("my pin is 4567", "my pin is four five six seven"),
    ("born in 1985", "born in nineteen eighty five"),
    ("it cost 56.79 pounds", "it cost fifty six pounds and seventy nine cents"),
    ("40€ please", "forty euros please"),
    ("a table for 4, on the 21st!", "a table for four on the twenty first"),
    ("3 o\"clock in the afternoon", "three o'clock in the afternoon"),
    ("9 05 in the morning", "nine oh five in the morning"),
])
def test_spoken_form(text, expected):
    assert spoken_form(text) == expected
    assert to_asr(text) == expected


def test_noise_is_seeded_and_keeps_spans():
    text = "how do i cancel my restaurant booking of the 20th of April"
    a = to_asr_spans(text, [("date", 45, 58)], seed=3, fillers=0.5, errors=0.3)
    b = to_asr_spans(text, [("date", 45, 58)], seed=3, fillers=0.5, errors=0.3)
    assert a == b
    out, spans = a
    assert [out[s:e] for _, s, e in spans] == ["twentieth of april"]
    assert out == out.lower() and "," not in out
    styler = AsrStyler(seed=1, fillers=1.0, errors=0.0)
    noisy = styler("i want to check my balance")
    assert len(noisy.split()) > len("i want to check my balance".split())


def test_calibration_holdout_keeps_copies_together_and_is_reproducible():
    from callflows.nlu.student import calibration_holdout

    labels = ["a"] * 40 + ["b"] * 30 + ["c"] * 4
    # every utterance followed later by its ASR-style copy: ids 0..73 twice
    both = labels + labels
    groups = list(range(len(labels))) * 2
    held = calibration_holdout(both, groups)
    n = len(labels)
    assert (held[:n] == held[n:]).all(), "an utterance and its copy were split between training and calibration"
    # a tenth of each intent's utterances (at least one for an intent with 3+)
    assert [int(held[:n][[i for i, lab in enumerate(labels) if lab == x]].sum()) for x in "abc"] == [4, 3, 1]
    assert (calibration_holdout(both, groups) == held).all()
    # without groups every example is drawn on its own, as before
    assert calibration_holdout(labels).sum() == 8
    with pytest.raises(ValueError):
        calibration_holdout(labels, groups)
