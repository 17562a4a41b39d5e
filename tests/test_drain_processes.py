"""Graceful drain and the lost-call sweeper with real processes (issue 18, item 1).

Real ``callflows serve`` replicas (gunicorn master + ``DrainingWorker``, Whisper, Piper, the
dental vertical) on one PostgreSQL database; callers are ``SimulatedCall``: Twilio's webhook,
signed, then the Media Stream in real time with espeak-ng speech.  Only Twilio's REST API is a
stand-in (``FakeTwilioApi``: it records the transfer).

* SIGTERM to the master (what Kubernetes sends PID 1) while three calls are in progress:
  ``/readyz`` turns 503 at once, ``/healthz`` stays 200 and says "draining", a new call's webhook
  gets ``<Redirect>`` to the public URL; the call that goes on finishes normally; at the grace
  limit the two silent calls are wrapped up (one transferred to the vertical's number, one told
  goodbye: the vertical has no number), each in the bot's voice, with complete records; then
  the process exits by itself.
* SIGKILL to a whole replica (master and worker) mid-call: another replica's sweeper marks the
  call failed (``replica_lost``) within seconds, and the same caller calling back is served at once.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from callflows.store import Store, repo
from callflows.store.models import Call
from callflows.store.replicas import ReplicaCall
from callflows.telephony.simulator import SimResult, SimulatedCall, Step
from tests.fixtures.db import _pg_store
from tests.fixtures.gunicorn import free_port, shared_tts_cache
from tests.fixtures.twilio import ACCOUNT_SID, FakeTwilioApi, sign

pytestmark = [pytest.mark.speech, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "drain-test-auth-token"
GRACE_S = 35.0
HOURS = "what are your opening hours"
NO_NUMBER_VERTICAL = "dental_nights"  # dental_clinic without a transfer number
NO_NUMBER_LINE = "+15550100999"


@dataclass
class Replica:
    proc: subprocess.Popen[bytes]
    base: str
    log: Path

    def health(self, path: str = "/healthz") -> requests.Response:
        return requests.get(f"{self.base}{path}", timeout=2)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@pytest.fixture(scope="module")
def database(_pg_available: str | None) -> Iterator[Store]:
    yield from _pg_store(_pg_available)


@pytest.fixture(scope="module")
def verticals(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """dental_clinic, and a copy without a transfer number (cached prompts are shared)."""
    dest = tmp_path_factory.mktemp("verticals")
    ignore = shutil.ignore_patterns("__pycache__", "knowledge.d")
    shutil.copytree(ROOT / "verticals" / "dental_clinic", dest / "dental_clinic", ignore=ignore)
    shutil.copytree(ROOT / "verticals" / "dental_clinic", dest / NO_NUMBER_VERTICAL, ignore=ignore)
    flow = dest / NO_NUMBER_VERTICAL / "flow.yaml"
    lines = [line for line in flow.read_text().splitlines() if not line.startswith("transfer_number:")]
    flow.write_text("\n".join(lines).replace("vertical: dental_clinic", f"vertical: {NO_NUMBER_VERTICAL}") + "\n")
    return dest


@pytest.fixture(scope="module")
def tts_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_tts_cache(tmp_path_factory)


@pytest.fixture(scope="module")
def twilio_api() -> Iterator[FakeTwilioApi]:
    with FakeTwilioApi() as api:
        yield api


def start_replica(workdir: Path, database: Store, verticals: Path, tts_cache: Path,
                  **env: str) -> Replica:
    """`callflows serve` in its own session (SIGKILL of the group = a lost pod)."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    full = dict(os.environ, PYTHONPATH=str(ROOT), CALLFLOWS_DATABASE_URL=database.url, TWILIO_AUTH_TOKEN=TOKEN,
                CALLFLOWS_PUBLIC_URL=base, CALLFLOWS_VERTICALS_DIR=str(verticals),
                CALLFLOWS_TTS_CACHE_DIR=str(tts_cache), CALLFLOWS_SILENCE_TIMEOUT_S="30", **env)
    if "TWILIO_ACCOUNT_SID" not in env:
        full.pop("TWILIO_ACCOUNT_SID", None)
    log = workdir / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "callflows.cli.main", "--log-level", "INFO", "serve",
                                 "--port", str(port), "--threads", "32"],
                                cwd=workdir, env=full, stdout=out, stderr=out, start_new_session=True)
    return Replica(proc, base, log)


def wait_ready(replica: Replica, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if replica.health("/readyz").status_code == 200:
                return
        except requests.RequestException:
            pass
        assert replica.proc.poll() is None, replica.tail()
        assert time.monotonic() < deadline, "callflows serve did not become ready\n" + replica.tail()
        time.sleep(0.3)


def stop(replica: Replica) -> None:
    if replica.proc.poll() is None:
        try:
            os.killpg(replica.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        replica.proc.wait(timeout=30)


class Caller:
    """A SimulatedCall running its script on a thread."""

    def __init__(self, base: str, steps: list[Step], to_number: str = "+15550100000",
                 from_number: str = "+15557654321", linger_s: float = 0.0) -> None:
        self.sim = SimulatedCall(base, auth_token=TOKEN, to_number=to_number, from_number=from_number)
        self.result: SimResult | None = None
        self.error: BaseException | None = None
        self.ended_at = 0.0
        self.thread = threading.Thread(target=self._run, args=(steps, linger_s), daemon=True)
        self.thread.start()

    def _run(self, steps: list[Step], linger_s: float) -> None:
        try:
            self.result = self.sim.run(steps, turn_timeout=60.0, linger_s=linger_s)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
        self.ended_at = time.monotonic()


def call_of(store: Store, call_sid: str) -> Call | None:
    with store.session() as s:
        call = s.scalar(select(Call).where(Call.twilio_call_sid == call_sid))
        if call is not None:
            s.expunge(call)
        return call


def wait_until(check, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def drain_heard(result: SimResult) -> tuple[float, bool]:
    """Seconds of the wrap-up sentence the caller received, and whether all of it was sent (its mark)."""
    segments = [seg for seg in result.segments if seg.label and seg.label.startswith("drain-")]
    return sum(seg.frames for seg in segments) * 0.02, bool(segments)


@dataclass
class DrainRun:
    sigterm_at: float
    unready_after_s: float
    health: dict[str, object]
    redirect: ET.Element
    going_on: Caller
    transferred: Caller
    goodbye: Caller
    exited_after_s: float
    exit_code: int | None
    log: str


@pytest.fixture(scope="module")
def drain_run(tmp_path_factory: pytest.TempPathFactory, database: Store, verticals: Path, tts_cache: Path,
              twilio_api: FakeTwilioApi, audio_cache_dir: Path) -> Iterator[DrainRun]:
    with database.session() as s:
        repo.upsert_phone_number(s, NO_NUMBER_LINE, NO_NUMBER_VERTICAL)
    replica = start_replica(tmp_path_factory.mktemp("drain"), database, verticals, tts_cache,
                            CALLFLOWS_DRAIN_GRACE_S=str(GRACE_S), TWILIO_ACCOUNT_SID=ACCOUNT_SID,
                            CALLFLOWS_TWILIO_API_BASE=twilio_api.base_url)
    try:
        wait_ready(replica)
        going_on = Caller(replica.base, [Step(say=HOURS, pause_s=3.0), Step(say="no thanks that's all", pause_s=1.0)])
        transferred = Caller(replica.base, [], linger_s=GRACE_S + 60)
        goodbye = Caller(replica.base, [], to_number=NO_NUMBER_LINE, linger_s=GRACE_S + 60)
        wait_until(lambda: replica.health().json()["calls_in_progress"] == 3, 60, "three calls in progress")
        time.sleep(1.0)  # the greetings are playing
        sigterm_at = time.monotonic()
        replica.proc.send_signal(signal.SIGTERM)
        while replica.health("/readyz").status_code == 200:
            assert time.monotonic() - sigterm_at < 5, "still ready 5 s after SIGTERM"
            time.sleep(0.02)
        unready_after_s = time.monotonic() - sigterm_at
        health = replica.health()
        assert health.status_code == 200
        new_sid = "CA" + "e" * 32
        params = {"CallSid": new_sid, "AccountSid": ACCOUNT_SID, "From": "+15550001111", "To": "+15550100000",
                  "CallStatus": "ringing", "Direction": "inbound"}
        url = f"{replica.base}/twilio/voice"
        answer = requests.post(url, data=params, headers={"X-Twilio-Signature": sign(TOKEN, url, params)}, timeout=5)
        assert answer.status_code == 200, answer.text
        for caller in (going_on, transferred, goodbye):
            caller.thread.join(timeout=GRACE_S + 90)
        replica.proc.wait(timeout=90)
        yield DrainRun(sigterm_at, unready_after_s, health.json(), ET.fromstring(answer.text), going_on, transferred,
                       goodbye, time.monotonic() - sigterm_at, replica.proc.returncode, replica.tail())
    finally:
        stop(replica)


def test_sigterm_turns_unready_at_once_and_redirects_new_calls(drain_run: DrainRun) -> None:
    print(f"\nunready {drain_run.unready_after_s * 1000:.0f} ms after SIGTERM; exited after {drain_run.exited_after_s:.1f} s")
    assert drain_run.unready_after_s < 1.0
    health = drain_run.health
    assert health["status"] == "draining" and health["ready"] is False and health["calls_in_progress"] == 3
    assert health["models_loaded"] is True and health["database"] == "ok"
    redirect = drain_run.redirect.find("./Redirect")
    assert drain_run.redirect.find("./Connect") is None
    assert redirect is not None and redirect.get("method") == "POST"
    assert redirect.text is not None and redirect.text.endswith("/twilio/voice")


def test_a_call_in_progress_finishes_normally_during_the_drain(drain_run: DrainRun, database: Store) -> None:
    caller = drain_run.going_on
    assert caller.error is None and caller.result is not None, drain_run.log
    assert len(caller.result.latencies()) == 2, "both questions were answered during the drain"
    assert caller.ended_at - drain_run.sigterm_at < GRACE_S
    call = call_of(database, caller.sim.call_sid)
    assert call is not None and call.ended_at is not None and call.status == "completed"
    assert call.outcome is not None and not call.outcome.startswith("drained")
    assert not any(seg.label and seg.label.startswith("drain-") for seg in caller.result.segments)


def test_at_the_grace_limit_calls_are_transferred_or_told_goodbye(drain_run: DrainRun, database: Store,
                                                                  twilio_api: FakeTwilioApi) -> None:
    for caller, outcome in ((drain_run.transferred, "drained_transferred"), (drain_run.goodbye, "drained")):
        assert caller.error is None and caller.result is not None, drain_run.log
        heard_s, complete = drain_heard(caller.result)
        assert complete and heard_s > 2.0, f"{outcome}: the last sentence was not heard ({heard_s:.1f} s)"
        assert caller.result.closed_by_server
        assert GRACE_S - 1 < caller.ended_at - drain_run.sigterm_at < GRACE_S + 30
        call = call_of(database, caller.sim.call_sid)
        assert call is not None and call.ended_at is not None, outcome
        assert (call.status, call.outcome) == ("completed", outcome)
    moved = call_of(database, drain_run.transferred.sim.call_sid)
    assert moved is not None and moved.transferred and moved.transfer_to == "+15550100199"
    dials = [r for r in twilio_api.requests if r.path.endswith(f"/Calls/{drain_run.transferred.sim.call_sid}.json")]
    assert len(dials) == 1 and "<Dial>" in dials[0].form["Twiml"] and "+15550100199" in dials[0].form["Twiml"]
    assert not [r for r in twilio_api.requests if drain_run.goodbye.sim.call_sid in r.path]


def test_the_drained_replica_exits_by_itself(drain_run: DrainRun, database: Store) -> None:
    assert drain_run.exit_code == 0, drain_run.log
    assert drain_run.exited_after_s < GRACE_S + 45
    assert "grace period over: wrapping up 2 call(s)" in drain_run.log
    assert "+1555765" not in drain_run.log and "7654321" not in drain_run.log  # no caller number in the log


def test_killed_replica_calls_are_swept_and_the_caller_is_served_again(
        tmp_path_factory: pytest.TempPathFactory, database: Store, verticals: Path, tts_cache: Path,
        audio_cache_dir: Path) -> None:
    fast = {"CALLFLOWS_REPLICA_HEARTBEAT_S": "1", "CALLFLOWS_REPLICA_STALE_S": "4", "CALLFLOWS_SWEEP_INTERVAL_S": "1"}
    doomed = start_replica(tmp_path_factory.mktemp("doomed"), database, verticals, tts_cache, **fast)
    other = start_replica(tmp_path_factory.mktemp("other"), database, verticals, tts_cache, **fast)
    try:
        wait_ready(doomed)
        wait_ready(other)
        caller_number = "+15558675309"
        lost = Caller(doomed.base, [], from_number=caller_number, linger_s=120)
        wait_until(lambda: doomed.health().json()["calls_in_progress"] == 1, 60, "the call is in progress")
        replica_id = doomed.health().json()["replica"]
        lost_call = call_of(database, lost.sim.call_sid)
        assert lost_call is not None and lost_call.status == "active"
        with database.session() as s:
            held = s.get(ReplicaCall, lost_call.id)
            assert held is not None and held.replica_id == replica_id
        time.sleep(1.0)
        os.killpg(doomed.proc.pid, signal.SIGKILL)  # a lost pod: no Python runs, nothing is finished
        killed_at = time.monotonic()
        doomed.proc.wait(timeout=30)
        lost.thread.join(timeout=30)
        assert lost.result is not None and lost.result.closed_by_server

        def swept() -> bool:
            call = call_of(database, lost.sim.call_sid)
            return call is not None and call.ended_at is not None

        wait_until(swept, 30, "the lost call was not swept")
        swept_after_s = time.monotonic() - killed_at
        call = call_of(database, lost.sim.call_sid)
        assert call is not None and (call.status, call.outcome) == ("failed", "replica_lost")
        assert call.summary is not None and call.summary["replica"] == replica_id
        assert swept_after_s < 4 + 1 + 5  # stale threshold + sweep interval + slack
        # the same caller calls back: another replica answers at once
        again = Caller(other.base, [Step(say=HOURS)], from_number=caller_number)
        again.thread.join(timeout=90)
        assert again.error is None and again.result is not None, other.tail()
        assert len(again.result.latencies()) == 1
        served = call_of(database, again.sim.call_sid)
        assert served is not None and served.ended_at is not None and served.status == "completed"
        print(f"\nswept {swept_after_s:.1f} s after SIGKILL; the call back's first reply after "
              f"{again.result.latencies()[0]:.0f} ms")
    finally:
        stop(doomed)
        stop(other)

