"""The phone server's HTTP side: TwiML answer, number -> vertical, status callbacks,
signatures and replays, the insecure flag, transfers against a fake Twilio REST API, `serve`."""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET
from types import SimpleNamespace

import pytest
import requests
from click.testing import CliRunner

from callflows.config import Settings
from callflows.server import create_app
from callflows.store import repo
from callflows.telephony.security import ReplayCache, TwilioSignatureChecker
from callflows.telephony.transfer import TransferError, TwilioCalls
from callflows.telephony.twiml import connect_stream_twiml, dial_twiml, hangup_twiml
from tests.fixtures.twilio import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CALL_SID,
    FakeTwilioApi,
    LiveServer,
    sign,
)

PUBLIC_URL = "https://callflows.example.test"
CALLER = "+15557654321"
CLINIC = "+15550001111"


def _app(store, **settings_kw):
    settings = Settings(**{"twilio_auth_token": AUTH_TOKEN, "public_url": PUBLIC_URL, **settings_kw})
    return create_app(settings, store, services=SimpleNamespace(settings=settings, store=store))


def _post(client, path, params, *, token=AUTH_TOKEN, url=None, signature=None):
    headers = {}
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    elif token:
        headers["X-Twilio-Signature"] = sign(token, url or f"{PUBLIC_URL}{path}", params)
    return client.post(path, data=params, headers=headers)


def _voice_params(to=CLINIC):
    return {"CallSid": CALL_SID, "AccountSid": ACCOUNT_SID, "From": CALLER, "To": to,
            "CallStatus": "ringing", "Direction": "inbound"}


def _stream(twiml: str):
    root = ET.fromstring(twiml)
    stream = root.find("./Connect/Stream")
    assert stream is not None, twiml
    return stream.get("url"), {p.get("name"): p.get("value") for p in stream.findall("Parameter")}


# --------------------------------------------------------------------------- #
# TwiML
# --------------------------------------------------------------------------- #


def test_twiml_builders():
    url, params = _stream(connect_stream_twiml("wss://h.test/twilio/media", {"a": "1", "b": "<&>"}))
    assert url == "wss://h.test/twilio/media" and params == {"a": "1", "b": "<&>"}
    with pytest.raises(ValueError):
        connect_stream_twiml("https://h.test/twilio/media", {})
    with pytest.raises(ValueError):
        connect_stream_twiml("wss://h.test/twilio/media?x=1", {})
    dial = ET.fromstring(dial_twiml("+1 (555) 123-4567", say="Connecting you now."))
    assert [c.tag for c in dial] == ["Say", "Dial"] and dial.find("Dial").text == "+15551234567"
    with pytest.raises(ValueError):
        dial_twiml("sip:evil</Dial>")
    assert [c.tag for c in ET.fromstring(hangup_twiml("Goodbye."))] == ["Say", "Hangup"]


# --------------------------------------------------------------------------- #
# the voice webhook
# --------------------------------------------------------------------------- #


def test_incoming_call_answers_with_a_stream_and_parameters(sqlite_store):
    client = _app(sqlite_store).test_client()
    resp = _post(client, "/twilio/voice", _voice_params())
    assert resp.status_code == 200 and resp.mimetype == "text/xml"
    url, params = _stream(resp.get_data(as_text=True))
    assert url.startswith("wss://callflows.example.test/twilio/media/")  # a per-call token follows
    token = url.rsplit("/", 1)[1]
    assert params.pop("sig")  # the server's signature over the token and these values
    assert params == {"vertical": "dental_clinic", "from": CALLER, "to": CLINIC, "call_sid": CALL_SID}
    again = _stream(_post(client, "/twilio/voice", _voice_params()).get_data(as_text=True))[0]
    assert again.rsplit("/", 1)[1] != token  # every answer issues a new token


def test_called_number_chooses_the_vertical(sqlite_store):
    with sqlite_store.session() as s:
        repo.upsert_phone_number(s, CLINIC, "hotel", transfer_number="+15559990000")
    client = _app(sqlite_store, default_vertical="dental_clinic").test_client()
    _, params = _stream(_post(client, "/twilio/voice", _voice_params(CLINIC)).get_data(as_text=True))
    assert params["vertical"] == "hotel"
    _, params = _stream(_post(client, "/twilio/voice", _voice_params("+15550002222")).get_data(as_text=True))
    assert params["vertical"] == "dental_clinic"  # unmapped: the default


@pytest.mark.parametrize("vertical", ["hvac_service", "../../../../tmp/x/evil", "/tmp/x/evil"])
def test_a_number_mapped_to_a_vertical_that_is_not_installed_gets_an_apology_and_a_record(sqlite_store, vertical):
    """Before: the call was dropped with no record at all (and a path was imported as a vertical)."""
    with sqlite_store.session() as s:
        repo.upsert_phone_number(s, CLINIC, vertical, transfer_number="+15559990000")
    client = _app(sqlite_store).test_client()
    resp = _post(client, "/twilio/voice", _voice_params(CLINIC))
    assert resp.status_code == 200
    root = ET.fromstring(resp.get_data(as_text=True))
    assert [c.tag for c in root] == ["Say", "Hangup"] and "sorry" in root.find("Say").text.lower()
    with sqlite_store.session() as s:
        call = repo.get_call_by_sid(s, CALL_SID)
        assert call is not None and call.ended_at is not None
        assert call.outcome == "refused_unknown_vertical" and call.vertical == vertical[:64]
        assert call.summary["refused"] == "unknown_vertical"


@pytest.mark.parametrize("call_sid", [None, "", "not-a-sid", "CA" + "x" * 100])
def test_a_voice_webhook_without_a_valid_call_sid_is_refused(sqlite_store, call_sid):
    """Before: a signed webhook without CallSid was answered with an empty call id."""
    client = _app(sqlite_store).test_client()
    params = {k: v for k, v in {**_voice_params(), "CallSid": call_sid}.items() if v is not None}
    assert _post(client, "/twilio/voice", params).status_code == 400


def test_without_public_url_the_stream_url_comes_from_the_request_host(sqlite_store):
    app = _app(sqlite_store, public_url=None)
    with LiveServer(app) as server:  # a real server: request.url is what the client asked for
        url = f"{server.url}/twilio/voice"
        params = _voice_params()
        resp = requests.post(url, data=params, headers={"X-Twilio-Signature": sign(AUTH_TOKEN, url, params)},
                             timeout=5)
        assert resp.status_code == 200
        stream_url, _ = _stream(resp.text)
        assert stream_url.startswith(f"ws://127.0.0.1:{server.port}/twilio/media/")  # loopback: no TLS to be had
        # a public host name (behind a TLS-terminating tunnel): always wss
        headers = {"Host": "abc.tunnel.example", "X-Twilio-Signature": sign(
            AUTH_TOKEN, "http://abc.tunnel.example/twilio/voice", params)}
        resp = requests.post(url, data=params, headers=headers, timeout=5)
        assert resp.status_code == 200
        assert _stream(resp.text)[0].startswith("wss://abc.tunnel.example/twilio/media/")


@pytest.mark.parametrize("path", ["/twilio/voice", "/twilio/status"])
def test_bad_or_missing_signature_is_refused(sqlite_store, path):
    client = _app(sqlite_store).test_client()
    params = _voice_params()
    assert _post(client, path, params, token=None).status_code == 403  # no header
    assert _post(client, path, params, signature="bm9wZQ==").status_code == 403
    assert _post(client, path, params, token="some-other-token").status_code == 403
    assert _post(client, path, params, url=f"{PUBLIC_URL}/elsewhere").status_code == 403
    tampered = dict(params, To="+15550009999")
    sig = sign(AUTH_TOKEN, f"{PUBLIC_URL}{path}", params)
    assert client.post(path, data=tampered, headers={"X-Twilio-Signature": sig}).status_code == 403


def test_query_string_is_part_of_the_signed_url(sqlite_store):
    client = _app(sqlite_store).test_client()
    params = _voice_params()
    good = sign(AUTH_TOKEN, f"{PUBLIC_URL}/twilio/voice?tenant=7", params)
    resp = client.post("/twilio/voice?tenant=7", data=params, headers={"X-Twilio-Signature": good})
    assert resp.status_code == 200
    resp = client.post("/twilio/voice?tenant=8", data=params, headers={"X-Twilio-Signature": good})
    assert resp.status_code == 403


def test_oversized_webhook_is_refused(sqlite_store):
    client = _app(sqlite_store).test_client()
    params = dict(_voice_params(), Junk="x" * 70_000)
    assert _post(client, "/twilio/voice", params).status_code == 413


def test_healthz(sqlite_store):
    resp = _app(sqlite_store).test_client().get("/healthz")
    assert resp.status_code == 200 and resp.get_json()["ok"] is True


# --------------------------------------------------------------------------- #
# status callbacks
# --------------------------------------------------------------------------- #


def _status(client, call_status, call_sid=CALL_SID, **extra):
    params = {"CallSid": call_sid, "AccountSid": ACCOUNT_SID, "CallStatus": call_status, **extra}
    return _post(client, "/twilio/status", params)


def test_status_callbacks_are_recorded_and_idempotent(sqlite_store):
    with sqlite_store.session() as s:
        call_id = repo.start_call(s, "dental_clinic", "phone", twilio_call_sid=CALL_SID).id
    client = _app(sqlite_store).test_client()

    assert _status(client, "in-progress").status_code == 204
    with sqlite_store.session() as s:
        call = repo.get_call(s, call_id)
        assert call.ended_at is None and call.summary["twilio_status"] == "in-progress"

    assert _status(client, "completed", CallDuration="42").status_code == 204
    with sqlite_store.session() as s:
        call = repo.get_call(s, call_id)
        ended_at, outcome = call.ended_at, call.outcome
        assert ended_at is not None and outcome == "caller_hung_up" and call.status == "completed"
        assert call.summary["twilio_statuses"] == ["in-progress", "completed"]

    # the identical callback again: a replay, refused, nothing changes
    assert _status(client, "completed", CallDuration="42").status_code == 409
    # a different late callback: noted, but the finished call stays as it was
    assert _status(client, "failed").status_code == 204
    with sqlite_store.session() as s:
        call = repo.get_call(s, call_id)
        assert (call.ended_at, call.outcome, call.status) == (ended_at, outcome, "completed")
        assert call.summary["twilio_statuses"] == ["in-progress", "completed", "failed"]


def test_final_status_other_than_completed_fails_an_open_call(sqlite_store):
    with sqlite_store.session() as s:
        call_id = repo.start_call(s, "dental_clinic", "phone", twilio_call_sid=CALL_SID).id
    client = _app(sqlite_store).test_client()
    assert _status(client, "no-answer").status_code == 204
    with sqlite_store.session() as s:
        call = repo.get_call(s, call_id)
        assert call.status == "failed" and call.outcome == "call_no_answer" and call.ended_at is not None


def test_status_for_an_unknown_call_is_204(sqlite_store):
    client = _app(sqlite_store).test_client()
    assert _status(client, "completed", call_sid="CA" + "0" * 32).status_code == 204
    assert _post(client, "/twilio/status", {"CallStatus": "completed"}).status_code == 400


def test_replay_cache_expires_and_is_bounded():
    now = [0.0]
    cache = ReplayCache(ttl_s=10, max_entries=3, clock=lambda: now[0])
    assert not cache.seen_before(("a",))
    assert cache.seen_before(("a",))
    now[0] = 11
    assert not cache.seen_before(("a",))  # expired: accepted again
    for key in "bcd":
        cache.seen_before((key,))
    assert len(cache) <= 3


def test_websocket_url_forms():
    checker = TwilioSignatureChecker(AUTH_TOKEN, PUBLIC_URL + "/")
    req = SimpleNamespace(path="/twilio/media", query_string=b"", host="10.0.0.5:8080", is_secure=False)
    assert checker.websocket_urls(req) == ["wss://callflows.example.test/twilio/media",
                                           "https://callflows.example.test/twilio/media"]


# --------------------------------------------------------------------------- #
# the insecure flag
# --------------------------------------------------------------------------- #


def test_no_token_requires_the_insecure_flag(sqlite_store):
    with pytest.raises(RuntimeError, match="TWILIO_AUTH_TOKEN"):
        create_app(Settings(twilio_auth_token=None), sqlite_store, services=None)
    app = create_app(Settings(twilio_auth_token=None, insecure_dev=True), sqlite_store, services=None)
    client = app.test_client()
    resp = client.post("/twilio/voice", data=_voice_params())  # unsigned, accepted in dev mode
    assert resp.status_code == 200


def test_a_token_is_checked_even_in_insecure_mode(sqlite_store):
    client = _app(sqlite_store, insecure_dev=True).test_client()
    assert _post(client, "/twilio/voice", _voice_params(), token=None).status_code == 403


# --------------------------------------------------------------------------- #
# transfers through the REST API
# --------------------------------------------------------------------------- #


def test_transfer_updates_the_live_call():
    with FakeTwilioApi() as api:
        calls = TwilioCalls(ACCOUNT_SID, AUTH_TOKEN, api.base_url, timeout=3)
        calls.transfer(CALL_SID, "+15559990000", say="Connecting you to the front desk.")
        calls.hangup(CALL_SID)
    transfer, hangup = api.requests
    assert transfer.method == "POST"
    assert transfer.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{CALL_SID}.json"
    assert transfer.auth == (ACCOUNT_SID, AUTH_TOKEN)
    twiml = ET.fromstring(transfer.form["Twiml"])
    assert twiml.find("Dial").text == "+15559990000"
    assert twiml.find("Say").text == "Connecting you to the front desk."
    assert hangup.path == transfer.path and hangup.form == {"Status": "completed"}


def test_transfer_failures_raise_transfer_error():
    with FakeTwilioApi(status=404, body={"code": 20404, "message": "not found", "status": 404}) as api:
        with pytest.raises(TransferError) as info:
            TwilioCalls(ACCOUNT_SID, AUTH_TOKEN, api.base_url, timeout=3).transfer(CALL_SID, "+15559990000")
        assert info.value.status == 404 and "404" in str(info.value)
    with FakeTwilioApi(delay_s=1.5) as api:
        with pytest.raises(TransferError, match="did not answer"):
            TwilioCalls(ACCOUNT_SID, AUTH_TOKEN, api.base_url, timeout=0.3).hangup(CALL_SID)
    with FakeTwilioApi() as api:
        calls = TwilioCalls(ACCOUNT_SID, AUTH_TOKEN, api.base_url, timeout=3)
        with pytest.raises(TransferError, match="invalid call SID"):
            calls.transfer("../../Accounts", "+15559990000")
        with pytest.raises(TransferError, match="phone number"):
            calls.transfer(CALL_SID, "not a number")
        assert api.requests == []
    with socket.socket() as probe:  # a free port that nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(TransferError, match="not reachable"):
        TwilioCalls(ACCOUNT_SID, AUTH_TOKEN, f"http://127.0.0.1:{port}", timeout=1).transfer(CALL_SID, "+15559990000")


# --------------------------------------------------------------------------- #
# `callflows serve`
# --------------------------------------------------------------------------- #


def test_serve_refuses_to_start_without_a_token(monkeypatch):
    from callflows.cli.serve import serve

    for name in ("TWILIO_AUTH_TOKEN", "CALLFLOWS_INSECURE_DEV"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(serve, [])
    assert result.exit_code != 0 and "TWILIO_AUTH_TOKEN" in result.output


def test_serve_uses_one_gthread_worker_with_many_threads():
    from gunicorn.workers.gthread import ThreadWorker

    from callflows.cli.serve import gunicorn_options, make_gunicorn_app
    from callflows.telephony.http_worker import SlowClientWorker

    app = make_gunicorn_app(lambda: None, gunicorn_options("127.0.0.1", 8099, 1, 32))
    assert issubclass(app.cfg.worker_class, SlowClientWorker) and issubclass(app.cfg.worker_class, ThreadWorker)
    assert (app.cfg.workers, app.cfg.threads, app.cfg.bind) == (1, 32, ["127.0.0.1:8099"])
    assert app.cfg.preload_app is False


def test_local_development_without_public_url_round_trip(sqlite_store):
    """The local simulator's way: TwiML from the loopback host, socket signed over that ws:// URL."""
    import websocket

    from callflows.telephony.routes import EXTENSION_KEY
    from tests.fixtures.twilio import EchoHandler, start_msg

    app = _app(sqlite_store, public_url=None)
    app.extensions[EXTENSION_KEY].handler_factory = EchoHandler
    with LiveServer(app) as server:
        url = f"{server.url}/twilio/voice"
        params = _voice_params()
        resp = requests.post(url, data=params, headers={"X-Twilio-Signature": sign(AUTH_TOKEN, url, params)},
                             timeout=5)
        stream_url, parameters = _stream(resp.text)
        ws = websocket.create_connection(
            stream_url, header=[f"X-Twilio-Signature: {sign(AUTH_TOKEN, stream_url)}"], timeout=5)
        try:
            ws.send(start_msg(seq=1, params=parameters))
            assert '"start"' in ws.recv()
        finally:
            ws.close()
