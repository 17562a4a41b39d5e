"""The warm transfer's watchdog that outlives a worker: an attempt left undecided by a worker
that is gone (its in-process timer died with it) is timed out by any replica from the store,
the caller is sent back to the bot through the REST API, the person's ringing line is
canceled, and racing watchdogs decide it once. Real store (SQLite and PostgreSQL), the
project's Twilio REST client against the Twilio stand-in.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from callflows.store import repo
from callflows.store import transfers as tx
from callflows.store.models import Call
from callflows.store.types import utcnow
from callflows.telephony.transfer import TwilioCalls
from callflows.telephony.transfer_watchdog import GRACE_S, time_out_orphans
from callflows.telephony.transfer_settings import MAX_WAIT_CEILING_S
from callflows.telephony.warm_transfer import WarmTransfers
from tests.fixtures.twilio import ACCOUNT_SID, AUTH_TOKEN, TwilioCloud

BASE = "https://bot.example.test"


@pytest.fixture
def cloud():
    with TwilioCloud(agent="ring") as c:
        yield c


def _attempt(store, caller_sid: str, age_s: float, agent_sid: str | None = None) -> tuple[str, str]:
    with store.session() as s:
        call = repo.start_call(s, "dental_clinic", "phone", twilio_call_sid=caller_sid, to_number="+15550001111")
        attempt = tx.create_attempt(s, call.id, "+15559990000", caller_sid)
        attempt.started_at = utcnow() - timedelta(seconds=age_s)
        attempt.state = tx.RINGING
        attempt.agent_sid = agent_sid
        return call.id, attempt.id


def _redirects(cloud: TwilioCloud, sid: str) -> list[str]:
    return [r.form.get("Url", "") for r in cloud.requests if r.path.endswith(f"/Calls/{sid}.json") and "Url" in r.form]


def test_an_attempt_orphaned_by_a_dead_worker_sends_the_caller_back_once(store, cloud):
    cloud.add_caller("CA" + "1" * 32, "+15551230000", "+15550001111")
    agent = cloud._create({"To": "+15559990000", "From": "+15550001111", "Url": f"{BASE}/screen"}, [])[1]["sid"]
    call_id, orphan = _attempt(store, "CA" + "1" * 32, MAX_WAIT_CEILING_S + GRACE_S + 5, agent_sid=agent)
    cloud.add_caller("CA" + "2" * 32, "+15551230001", "+15550001111")
    _fresh_call, fresh = _attempt(store, "CA" + "2" * 32, 3)  # its own worker's timer still runs
    twilio = TwilioCalls(ACCOUNT_SID, AUTH_TOKEN, cloud.base_url)
    replica_a, replica_b = WarmTransfers(store, twilio, BASE), WarmTransfers(store, twilio, BASE)

    assert time_out_orphans(replica_a) == [orphan]
    assert time_out_orphans(replica_b) == []  # decided once, whichever replica looks first
    with store.session() as s:
        assert tx.get_attempt(s, orphan).state == "timeout"
        assert tx.get_attempt(s, fresh).state == tx.RINGING
        assert s.get(Call, call_id).outcome == "transfer_timeout"  # the record says how it ended
    [url] = _redirects(cloud, "CA" + "1" * 32)
    assert url == f"{BASE}/twilio/transfer/return?attempt={orphan}"
    assert not _redirects(cloud, "CA" + "2" * 32)
    assert cloud.agents[-1].ended_by_api == "canceled"  # the person's phone stops ringing


def test_the_watchdog_leaves_decided_and_cold_attempts_alone(store, cloud):
    cloud.add_caller("CA" + "3" * 32, "+15551230002", "+15550001111")
    _call, decided = _attempt(store, "CA" + "3" * 32, 300)
    with store.session() as s:
        assert tx.transition(s, decided, tx.OPEN_STATES, tx.ACCEPTED)
        cold = tx.create_attempt(s, _call, "+15559990000", "CA" + "3" * 32, mode="cold")
        cold.started_at = utcnow() - timedelta(seconds=300)
    assert time_out_orphans(WarmTransfers(store, TwilioCalls(ACCOUNT_SID, AUTH_TOKEN, cloud.base_url), BASE)) == []
    assert not cloud.requests


def test_a_replica_starts_its_watchdog_only_with_a_public_url(store, cloud):
    """Started outside any request: without CALLFLOWS_PUBLIC_URL the return URL cannot be known
    (it comes from each webhook's host), so the watchdog stays off instead of failing the worker's
    start (it did: 'Working outside of request context')."""
    import threading
    from types import SimpleNamespace

    from flask import Flask

    from callflows.config import Settings
    from callflows.telephony.drain_routes import _start_transfer_watchdog

    app = Flask(__name__)
    app.extensions["callflows"] = SimpleNamespace(twilio=TwilioCalls(ACCOUNT_SID, AUTH_TOKEN, cloud.base_url))
    before = {t.name for t in threading.enumerate()}
    assert _start_transfer_watchdog(app, store, Settings(twilio_account_sid=ACCOUNT_SID,
                                                         twilio_auth_token=AUTH_TOKEN)) is None
    assert "transfer-watchdog" not in {t.name for t in threading.enumerate()} - before
    stop = _start_transfer_watchdog(app, store, Settings(public_url=BASE, twilio_account_sid=ACCOUNT_SID,
                                                         twilio_auth_token=AUTH_TOKEN))
    assert stop is not None and "transfer-watchdog" in {t.name for t in threading.enumerate()}
    stop.set()
