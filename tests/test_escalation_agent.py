"""The LLM in the call: streamed sentences, tools validated like forms (invalid arguments
rejected and explained, verification never skippable), a hung endpoint or garbage ending in a
holding line and a transfer with the call record complete, and prompts free of personal data.
Scripted LLMs give exact outputs; the real SmolLM2 (llm_tiny) runs one whole LLM turn."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from callflows.dialogue import DialogueSession
from callflows.escalation.store import decisions_of
from callflows.escalation.streaming import SayExtractor, SentenceSplitter
from callflows.llm import OpenAICompatLLM
from callflows_verticals.retail_bank import bank as bank_repo
from callflows.store.models import Call, Turn
from callflows_verticals.retail_bank.models import Card
from callflows.verticals import load_vertical
from tests.escalation_helpers import JORDAN, NOW, PRIYA, BrokenLLM, ScriptedLLM, bank_spec, play

HOLD = "I'm sorry, let me get a colleague to help you with this."


@pytest.fixture(scope="module")
def bank():
    return load_vertical("retail_bank")


def turns(store, call_id):
    with store.session() as s:
        return [(t.speaker, t.text) for t in s.scalars(select(Turn).where(Turn.call_id == call_id).order_by(Turn.seq))]


def call_row(store, call_id) -> Call:
    with store.session() as s:
        return s.get(Call, call_id)


def frustrated_session(store, bank, llm, **kw) -> DialogueSession:
    session = DialogueSession(bank, store, now=NOW, escalation=bank_spec(bank, **kw), llm=llm)
    return session


# --------------------------------------------------------------------------- streaming


def test_say_is_decoded_and_cut_into_sentences_while_it_streams():
    ex, sp = SayExtractor(), SentenceSplitter()
    out = []
    for delta in ['{"sa', 'y": "I\'m sorry', ' to hear that. Dr. Patel is ', 'free at 3. Shall', ' I book it?\\n"}']:
        out += list(sp.feed(ex.feed(delta)))
        if delta.startswith(" to hear"):
            assert out == ["I'm sorry to hear that."]  # before the rest arrived
    out += list(sp.flush())
    assert out == ["I'm sorry to hear that.", "Dr. Patel is free at 3.", "Shall I book it?"] and ex.closed
    other = SayExtractor()
    assert other.feed('{"tool": "x"') == "" and other.mode == "other"


def test_the_first_sentence_is_out_before_the_llm_finished(store, bank):
    llm = ScriptedLLM({"say": "I understand how annoying that is. Let me look at it with you. What happened exactly?"})
    session = frustrated_session(store, bank, llm)
    reply = session.handle_text("this is ridiculous")
    assert reply.sentences is not None and reply.text == ""
    first = next(reply.sentences)
    assert first == "I understand how annoying that is."
    stream = llm.streams[0]
    assert stream.consumed < len(stream._chunks)  # the LLM is still "generating"
    rest = list(reply.sentences)
    assert rest == ["Let me look at it with you.", "What happened exactly?"]
    assert reply.text.startswith("I understand") and reply.text.endswith("exactly?") and not reply.transfer_to
    assert turns(store, session.call_id)[-1] == ("bot", reply.text)  # recorded once exhausted
    assert llm.kwargs[0]["json_schema"]["anyOf"][0]["required"] == ["say"]


# --------------------------------------------------------------------------- tools


def test_verification_cannot_be_skipped_by_the_llm(store, bank):
    llm = ScriptedLLM({"tool": "freeze_card", "args": {"card_problem": "lost"}},
                      {"say": "First I need to verify who you are. What's your full name?"})
    session = frustrated_session(store, bank, llm)
    reply = play(session, "this is ridiculous i lost my card and nobody helps")[-1]
    assert "verify who you are" in reply.text and not reply.transfer_to
    feedback = llm.prompts[1][-1]["content"]
    assert "refused: freeze_card needs the caller to pass verify_identity first" in feedback
    with store.session() as s:
        assert s.scalars(select(Card).where(Card.status == "frozen")).all() == []
    assert not session.is_verified()


def test_invalid_tool_arguments_are_rejected_and_explained(store, bank):
    llm = ScriptedLLM(
        {"tool": "verify_identity", "args": {"full_name": "Jordan Ellis", "date_of_birth": "banana", "id_digits": "4417"}},
        {"tool": "verify_identity", "args": {"full_name": "Jordan Ellis", "date_of_birth": "[redacted]", "id_digits": "12"}},
        {"say": "Could you tell me your date of birth again?"})
    session = frustrated_session(store, bank, llm)
    reply = play(session, "this is ridiculous, i am jordan ellis, born july fourteenth nineteen eighty eight")[-1]
    assert "date of birth again" in reply.text and not reply.transfer_to
    first, second = llm.prompts[1][-1]["content"], llm.prompts[2][-1]["content"]
    assert "date_of_birth: 'that value' is not a valid date" in first
    assert "rejected by the form's validation: id_digits: not accepted" in second
    assert not session.is_verified() and session.state.slots["verified"] is None


def test_too_many_rejected_tool_calls_hand_over_to_a_person(store, bank):
    bad = {"tool": "freeze_card", "args": {"card_problem": "lost"}}
    llm = ScriptedLLM(bad, bad, bad, bad)
    session = frustrated_session(store, bank, llm)
    reply = play(session, "this is ridiculous")[-1]
    assert reply.spoken[-1] == HOLD and reply.transfer_to == "+15550100299"
    assert len(llm.prompts) == 3  # max_tool_retries 2: the third refusal ends it


def test_verified_premium_lost_card_frozen_by_the_llm_with_a_handoff_summary(store, bank):
    llm = ScriptedLLM({"say": "I'm sorry. I'll freeze your cards now."},
                      {"tool": "freeze_card", "args": {"card_problem": "stolen"}})
    session = DialogueSession(bank, store, now=NOW, escalation=bank_spec(bank), llm=llm)
    replies = play(session, "someone stole my wallet with my card in it", *PRIYA)
    assert replies[-1].decision["route"] == "llm"
    # the takeover turn began with the engine's "you're verified": the LLM is told, so it does not say it again
    assert replies[-1].text.lower().count("you're verified") == 1
    said = [m["content"] for m in llm.prompts[0] if m["role"] == "assistant"]
    assert said and "you're verified" in said[-1].lower(), llm.prompts[0]
    reply = play(session, "yes please freeze them")[-1]
    assert "debit card ending in 8 8 3 4 and your credit card ending in 1 2 0 9" in reply.text
    assert reply.transfer_to == "+15550100299"
    with store.session() as s:
        cid = session.state.slots["customer_id"]
        assert all(c.status == "frozen" for c in bank_repo.cards_of(s, cid))
    call = call_row(store, session.call_id)
    assert call.ended_at is not None and call.transferred and call.summary["reason"] == "card_stolen"
    handoff = call.summary["handoff"]
    assert handoff["verified"] is True and handoff["route"] == "llm" and handoff["caller"] == "P**** R****"
    assert "premium customer" in handoff["reasons"] and handoff["llm"]["llm_turns"] == 2
    assert call.summary["llm_usage"]["llm_turns"] == 2


# --------------------------------------------------------------------------- failures


class _Hung(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    release = threading.Event()

    def log_message(self, *args):  # noqa: ANN002
        pass

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("X-Garbage") or b"garbage" in self.requestline.encode():
            pass
        type(self).release.wait(20)


@pytest.fixture(scope="module")
def hung_server() -> Iterator[str]:
    _Hung.release = threading.Event()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Hung)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    _Hung.release.set()
    httpd.shutdown()
    httpd.server_close()


def test_hung_llm_endpoint_holding_line_and_transfer_within_the_timeout(store, bank, hung_server):
    llm = OpenAICompatLLM(hung_server, "hang")
    session = frustrated_session(store, bank, llm, timeout_s=1.0)
    started = time.monotonic()
    reply = session.handle_text("this is ridiculous")
    spoken = list(reply.sentences)
    assert time.monotonic() - started < 3.0
    assert spoken == [HOLD] and reply.transfer_to == "+15550100299" and reply.text == HOLD
    call = call_row(store, session.call_id)
    assert call.ended_at is not None and call.transferred and call.outcome == "llm_timeout"
    assert turns(store, session.call_id)[-1] == ("bot", HOLD)
    with store.session() as s:
        row = decisions_of(s, session.call_id)[-1]
    assert row.route == "person" and "LLM timeout" in row.reasons and row.llm_seconds >= 0.9
    assert call.summary["handoff"]["reasons"][:1] == ["caller frustrated"]


@pytest.mark.parametrize("garbage", ["<html>this is not JSON</html>", '{"say": ""}', '{"weather": "sunny"}',
                                     '{"say": "I will hel'])
def test_garbage_output_goes_to_a_person(store, bank, garbage):
    session = frustrated_session(store, bank, ScriptedLLM(garbage))
    reply = play(session, "this is ridiculous")[-1]
    assert reply.spoken[-1] == HOLD and reply.transfer_to
    assert call_row(store, session.call_id).outcome == "llm_garbage"


def test_llm_down_goes_to_a_person(store, bank):
    session = frustrated_session(store, bank, BrokenLLM())
    reply = play(session, "this is ridiculous")[-1]
    assert reply.spoken == [HOLD] and reply.transfer_to and call_row(store, session.call_id).ended_at


def test_an_llm_that_is_not_installed_leaves_the_call_with_the_small_model(store, bank):
    """Out of scope twice routes to the LLM; with no model for its role the small model goes on
    (it offers a person itself) instead of handing every such call over as an "LLM error"."""
    session = DialogueSession(bank, store, now=NOW, escalation=bank_spec(bank, role="not_installed_here"))
    replies = play(session, "what is the meaning of life", "no thanks", "how tall is mount everest")
    assert not any(r.transfer_to for r in replies) and not session.state.ended
    assert "connect you" in replies[-1].text
    with store.session() as s:
        assert all(d.route != "llm" for d in decisions_of(s, session.call_id))
    assert play(session, "no thanks, what's my balance")[-1].text  # the call goes on
    session.end("test")


# --------------------------------------------------------------------------- privacy


def test_prompts_contain_no_unmasked_personal_data(store, bank):
    llm = ScriptedLLM({"say": "I understand. How can I help with your account?"})
    session = DialogueSession(bank, store, now=NOW, escalation=bank_spec(bank), llm=llm)
    play(session, "what's my balance", *JORDAN, "checking")
    play(session, "this is ridiculous, my date of birth is july fourteenth nineteen eighty eight and my ssn ends in 4417")
    assert llm.prompts
    text = "\n".join(m["content"] for m in llm.prompts[0]).lower()
    for secret in ("4417", "four four one seven", "1988", "nineteen eighty eight", "07-14", "5521", "7891",
                   "004512337891", "jordan", "ellis"):
        assert secret not in text, secret
    assert "[redacted]" in text and "caller identity verified: yes" in text


# --------------------------------------------------------------------------- a real (tiny) model


def test_real_tiny_llm_answers_a_turn_or_hands_over_cleanly(store, bank):
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (scripts/install.sh llama)")
    from callflows.llm import LlamaCppLLM
    from callflows.models import Manifest

    llm = LlamaCppLLM(Manifest.load().resolve("llm_tiny", install=True), n_ctx=2048, n_threads=2)
    try:
        session = frustrated_session(store, bank, llm, timeout_s=60.0, max_tokens=60)
        reply = session.handle_text("this is ridiculous, my card keeps getting declined")
        spoken = list(reply.sentences)
        assert spoken and all(isinstance(s, str) and s for s in spoken)
        assert reply.text == " ".join(spoken)
        with store.session() as s:
            row = decisions_of(s, session.call_id)[-1]
        assert row.llm_seconds > 0 and row.llm_tokens > 0
        if reply.transfer_to:
            assert call_row(store, session.call_id).ended_at is not None
    finally:
        llm.close()
