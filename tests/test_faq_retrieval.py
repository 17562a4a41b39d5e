"""FAQ retrieval (embeddings + TF-IDF + keywords) and out-of-scope requests, with the dental
vertical's own student trained from its committed distilled data."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from callflows.dialogue.session import DialogueSession
from callflows.distill.train import train_student
from callflows.flow.loader import load_flow
from callflows.nlu.embeddings import default_fast_embedder
from callflows.nlu.faq import FaqIndex
from callflows.nlu.pipeline import OUT_OF_SCOPE, VerticalNLU
from callflows.nlu.student import StudentModel
from callflows.nlu.values import ParseContext
from callflows.verticals import _REGISTRY

ROOT = Path(__file__).resolve().parent.parent / "verticals" / "dental_clinic"
NOW = datetime(2026, 11, 23, 9, tzinfo=ZoneInfo("America/New_York"))


@pytest.fixture(scope="module")
def flow():
    return load_flow(ROOT / "flow.yaml")


@pytest.fixture(scope="module")
def student(flow, tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    train_student(flow, ROOT, out=out, log=lambda _: None)
    return StudentModel.load(out)


@pytest.mark.parametrize("question, entry", [
    ("how much does it cost to get my teeth whitened", "prices"),  # few words shared with the entry
    ("is there somewhere to leave my car", "parking"),
    ("do you take delta dental", "insurance"),
    ("until what time can i come in on friday", "hours"),
])
def test_embedding_retrieval_finds_paraphrases(flow, question, entry):
    hits = FaqIndex(flow.faq, embedder=default_fast_embedder()).search(question, top=1)
    assert hits and hits[0].entry.id == entry and hits[0].score >= flow.settings.faq_threshold


@pytest.mark.parametrize("question", ["what is the capital of france", "what's the weather tomorrow",
                                      "can you recommend a good pizza place"])
def test_unrelated_questions_score_below_the_threshold(flow, question):
    hits = FaqIndex(flow.faq, embedder=default_fast_embedder()).search(question, top=1)
    assert not hits or hits[0].score < flow.settings.faq_threshold


def test_student_nlu_answers_a_faq_and_recognises_out_of_scope(flow, student):
    nlu = VerticalNLU(flow, student=student)
    ctx = ParseContext(now=NOW)
    assert nlu.parse("uh where do i park my car when i come in", ctx).faq.entry.id == "parking"
    assert nlu.parse("can you tell me who won the football game last night", ctx).intent == OUT_OF_SCOPE
    assert nlu.parse("i'd like to book a cleaning next week", ctx).intent == "book_appointment"


def test_out_of_scope_request_gets_not_sure_and_an_offer_of_a_person(flow, student):
    vertical = replace(_REGISTRY.load("dental_clinic"), nlu=VerticalNLU(flow, student=student))
    session = DialogueSession(vertical, None, now=NOW)
    session.start()
    reply = session.handle_text("can you tell me who won the football game last night")
    assert "not sure" in reply.text.lower() and "connect you" in reply.text.lower()
    assert session.handle_text("yes please").transfer_to == flow.transfer_number
    session = DialogueSession(vertical, None, now=NOW)
    session.start()
    assert "parking" in session.handle_text("is there anywhere to park").text.lower()
