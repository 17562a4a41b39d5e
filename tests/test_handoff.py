"""Handing a call to a person with its context: the transfer's ``<Dial><Number url=whisper>``,
the signed whisper webhook that reads the call's summary to the agent (masked), and the
summary on the admin's call page.

The whole-call test runs the real server, a real WebSocket, Piper and Whisper, and the
simulated Twilio; its dialogue is a DialogueSession subclass whose streamed reply ends with a
transfer and stores a summary, as the escalation path does.
"""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from dataclasses import replace
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from admin.testing import add_users, copy_verticals, login, make_app
from callflows.config import Settings
from callflows.dialogue import BotReply, DialogueSession
from callflows.server import create_app
from callflows.store import repo
from callflows.store.models import Call
from callflows.telephony import call as call_module
from callflows.telephony.handoff import build_handoff
from callflows.telephony.simulator import SimulatedCall, Step
from callflows.telephony.twiml import dial_twiml
from tests.fixtures.db import make_sqlite_store
from tests.fixtures.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilioApi, LiveServer, sign

PUBLIC_URL = "https://callflows.example.test"
SUMMARY = {
    "who": "Jane Smith",  # unmasked on purpose: the handoff must mask it whatever it is given
    "verified": True,
    "wants": "dispute a card payment",
    "slots": {"full_name": "Jane Smith", "date_of_birth": "1985-03-05", "ssn_last4": "6789", "amount": "42.50"},
    "reasons": ["caller asked for a person", "disputes need a specialist"],
    "customer_id": 17,
}
PERSONAL = ("Jane", "Smith", "1985", "6789", "5557654321", "7654321", "03-05")


def _texts(twiml: str) -> str:
    return " ".join(e.text or "" for e in ET.fromstring(twiml).iter("Say"))


# --------------------------------------------------------------------------- #
# pieces
# --------------------------------------------------------------------------- #


def test_dial_twiml_with_a_whisper_url() -> None:
    url = "https://callflows.example.test/twilio/whisper?call=abc123def"
    root = ET.fromstring(dial_twiml("+1 (555) 010-0199", whisper_url=url))
    number = root.find("./Dial/Number")
    assert number is not None and number.text == "+15550100199"
    assert number.get("url") == url and number.get("method") == "POST"
    assert ET.fromstring(dial_twiml("+15550100199")).find("./Dial").text == "+15550100199"  # no whisper: as before
    with pytest.raises(ValueError):
        dial_twiml("+15550100199", whisper_url="javascript:alert(1)")


def test_handoff_summary_is_masked_and_speakable() -> None:
    call = SimpleNamespace(id="c1", vertical="retail_bank", from_number_masked="***-***-**21", summary=SUMMARY)
    slot = SimpleNamespace(name="appointment_type", slot_type="enum", value_masked="cleaning")
    handoff = build_handoff(call, [slot])
    assert handoff.who == "J*** S****" and handoff.verified is True and handoff.wants == "dispute a card payment"
    assert dict(handoff.slots)["date_of_birth"] == "****-**-**" and dict(handoff.slots)["appointment_type"] == "cleaning"
    spoken = handoff.spoken()
    assert "initials J. S." in spoken and "identity verified" in spoken and "ending in 2 1" in spoken
    assert "dispute a card payment" in spoken and "caller asked for a person" in spoken
    assert "17" not in spoken  # internal ids are not read out
    assert not [p for p in PERSONAL if p in spoken], spoken


def _http_app(store):  # noqa: ANN001, ANN202
    settings = Settings(twilio_auth_token=AUTH_TOKEN, public_url=PUBLIC_URL)
    return create_app(settings, store, services=SimpleNamespace(settings=settings, store=store))


def _seed(store, summary, ended=True):  # noqa: ANN001, ANN202
    with store.session() as s:
        call = repo.start_call(s, "retail_bank", "phone", from_number="+15557654321", to_number="+15550100000")
        repo.set_slot(s, call.id, "full_name", "person_name", "Jane Smith", turn_seq=2, pii=True)
        if ended:
            repo.finish_call(s, call.id, "transferred", summary=summary, transferred=True, transfer_to="+15550100299")
        return call.id


def test_whisper_webhook_is_signed_and_reads_the_summary(sqlite_store) -> None:
    client = _http_app(sqlite_store).test_client()
    call_id = _seed(sqlite_store, SUMMARY)
    path = f"/twilio/whisper?call={call_id}"
    params = {"CallSid": "CA" + "f" * 32, "AccountSid": ACCOUNT_SID, "CallStatus": "in-progress"}
    assert client.post(path, data=params).status_code == 403  # unsigned
    other = sign(AUTH_TOKEN, f"{PUBLIC_URL}/twilio/whisper?call=someone-else", params)
    assert client.post(path, data=params, headers={"X-Twilio-Signature": other}).status_code == 403
    resp = client.post(path, data=params, headers={"X-Twilio-Signature": sign(AUTH_TOKEN, PUBLIC_URL + path, params)})
    assert resp.status_code == 200 and resp.mimetype == "text/xml"
    said = _texts(resp.get_data(as_text=True))
    assert "dispute a card payment" in said and "identity verified" in said and "initials J. S." in said
    assert not [p for p in PERSONAL if p in said], said
    unknown = "/twilio/whisper?call=0123456789abcdef"
    resp = client.post(unknown, data=params, headers={"X-Twilio-Signature": sign(AUTH_TOKEN, PUBLIC_URL + unknown, params)})
    assert resp.status_code == 200 and "No summary" in _texts(resp.get_data(as_text=True))
    bad = "/twilio/whisper?call=%3Cx%3E"
    resp = client.post(bad, data=params, headers={"X-Twilio-Signature": sign(AUTH_TOKEN, PUBLIC_URL + "/twilio/whisper?call=<x>", params)})
    assert resp.status_code in (400, 403)


def test_admin_call_page_shows_the_handoff_summary(sqlite_store, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CALLFLOWS_VERTICALS_DIR", str(copy_verticals(tmp_path / "verticals")))
    add_users(sqlite_store)
    app = make_app(sqlite_store, tmp_path)
    client = app.test_client()
    login(client, "viewer")
    call_id = _seed(sqlite_store, SUMMARY)
    page = client.get(f"/calls/{call_id}").get_data(as_text=True)
    assert "Handoff summary" in page and 'data-testid="handoff"' in page
    assert "dispute a card payment" in page and "disputes need a specialist" in page
    assert "J*** S****" in page and "****-**-**" in page
    assert not [p for p in PERSONAL if p in page]
    plain = _seed(sqlite_store, None)
    with sqlite_store.session() as s:  # a call that was never handed over has no handoff block
        s.get(Call, plain).transferred = False
    assert "Handoff summary" not in client.get(f"/calls/{plain}").get_data(as_text=True)


# --------------------------------------------------------------------------- #
# a whole call
# --------------------------------------------------------------------------- #

TOKEN = "test-auth-token"
ACCOUNT = "AC" + "0" * 32


@pytest.fixture(scope="module")
def twilio_api():
    with FakeTwilioApi() as api:
        yield api


@pytest.fixture(scope="module")
def phone(tmp_path_factory, twilio_api, audio_cache_dir):
    store = make_sqlite_store(tmp_path_factory.mktemp("handoff-db"))
    settings = replace(
        Settings(), twilio_auth_token=TOKEN, twilio_account_sid=ACCOUNT, twilio_api_base=twilio_api.base_url,
        tts_cache_dir=tmp_path_factory.getbasetemp() / "phone-tts-cache", silence_timeout_s=30.0,
    )
    app = create_app(settings, store)
    app.extensions["callflows"].warm_up()
    with LiveServer(app) as server:
        yield SimpleNamespace(url=server.url, store=store)


class EscalatingSession(DialogueSession):
    """Answers with a streamed reply that ends in a transfer, after storing a handoff summary."""

    def handle_text(self, text, source="text", timings=None):  # noqa: ANN001, ANN201
        super().handle_text(text, source=source, timings=timings)
        reply = BotReply(text="")

        def sentences():  # noqa: ANN202
            yield "I understand, a payment dispute needs one of my colleagues."
            time.sleep(0.5)  # the decision takes a moment
            self.recorder.summary(SUMMARY)
            number = self.flow.transfer_number
            self.state.transferred_to = number
            reply.transfer_to = number
            yield "Let me connect you now."

        reply.sentences = sentences()
        return reply


def test_streamed_reply_ending_in_a_transfer_dials_with_a_whisper(phone, twilio_api, monkeypatch) -> None:
    monkeypatch.setattr(call_module, "DialogueSession", EscalatingSession)
    sim = SimulatedCall(phone.url, auth_token=TOKEN, idle_ms=2500)
    sim.run([Step(say="i want to dispute a payment on my card")])
    deadline = time.time() + 10
    hits = []
    while not hits and time.time() < deadline:
        hits = [r for r in twilio_api.requests if sim.call_sid in r.path]
        time.sleep(0.2)
    assert hits, "no REST call reached the Twilio stand-in"
    twiml = hits[-1].form["Twiml"]
    number = ET.fromstring(twiml).find("./Dial/Number")
    assert number is not None and number.text == "+15550100199", twiml  # the dental clinic's number
    whisper_url = number.get("url")
    parts = urlsplit(whisper_url)
    assert parts.path == "/twilio/whisper" and f"{parts.scheme}://{parts.netloc}" == phone.url
    call_id = parse_qs(parts.query)["call"][0]
    with phone.store.session() as s:
        call = s.get(Call, call_id)
        assert call.twilio_call_sid == sim.call_sid and call.transferred and call.transfer_to == "+15550100199"
    # the agent answers: Twilio fetches the whisper, signed
    params = {"CallSid": "CA" + "e" * 32, "AccountSid": ACCOUNT, "From": "+15550100000",
              "To": "+15550100199", "CallStatus": "in-progress", "Direction": "outbound-dial"}
    assert requests.post(whisper_url, data=params, timeout=10).status_code == 403  # unsigned: refused
    resp = requests.post(whisper_url, data=params, headers={"X-Twilio-Signature": sign(TOKEN, whisper_url, params)},
                         timeout=10)
    assert resp.status_code == 200
    said = _texts(resp.text)
    assert "dispute a card payment" in said and "identity verified" in said
    assert "caller asked for a person" in said and "ending in 2 1" in said  # the caller's number, masked
    assert not [p for p in PERSONAL if p in said], said
    assert not re.search(r"\d{4}", said), said
