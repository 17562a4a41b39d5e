"""Two phone replicas behind a real HAProxy: calls spread, one replica drains (issue 18, item 2).

Real processes: two ``callflows serve`` replicas (gunicorn + the draining worker, Whisper, Piper,
the dental vertical) on one PostgreSQL database, and the distribution's HAProxy in front of them
(bench/haproxy_run.py: leastconn, ``/readyz`` checked every second) as the public URL the
webhooks are signed for. Callers are ``SimulatedCall`` (Twilio's stand-in): the signed webhook
and the Media Stream both go through the proxy; a ``<Redirect>`` from a draining replica is
followed as Twilio follows it.

* two calls through the proxy land one on each replica;
* SIGTERM to the replica holding the first call: HAProxy takes it out within about a second,
  the call goes on (its next question is answered after the SIGTERM) and ends normally, and the
  replica then exits by itself;
* a new call through the proxy meanwhile is answered by the other replica; a webhook that reaches
  the draining replica directly (before the proxy noticed) is redirected through the proxy.

Skipped (with the reason) only when haproxy is not installed (scripts/install.sh installs it as
an optional apt package) or PostgreSQL / the speech tools are missing.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from sqlalchemy.engine import make_url

from bench.haproxy_run import HAProxyRun, haproxy_binary
from callflows.speech.caller_voice import caller_audio
from callflows.store import Store
from callflows.store.models import Call
from callflows.store.replicas import ReplicaCall
from callflows.telephony.simulator import SimResult, SimulatedCall, Step, answer_incoming_call
from tests.fixtures.db import PG_ADMIN_URL, _create_database, _pg_admin_engine
from tests.fixtures.gunicorn import free_port, shared_tts_cache

pytestmark = [pytest.mark.speech, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "replicas-proxy-test-token"
HOURS = "what are your opening hours"
CALLER = "+15557654321"


@dataclass
class Replica:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def health(self) -> dict[str, object]:
        return requests.get(f"http://{self.address}/healthz", timeout=2).json()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


class Caller:
    """A SimulatedCall running its script on a thread, through the proxy."""

    def __init__(self, base: str, steps: list[Step]) -> None:
        self.sim = SimulatedCall(base, auth_token=TOKEN, from_number=CALLER)
        self.result: SimResult | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(steps,), daemon=True)
        self.thread.start()

    def _run(self, steps: list[Step]) -> None:
        try:
            self.result = self.sim.run(steps, turn_timeout=45.0)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc


@pytest.fixture(scope="module")
def proxy_binary() -> str:
    binary = haproxy_binary()
    if binary is None:
        pytest.skip("haproxy is not installed (apt-get install haproxy; scripts/install.sh apt installs it as an "
                    "optional package)")
    return binary


@pytest.fixture(scope="module")
def database_url(_pg_available: str | None) -> Iterator[str]:
    """A fresh, empty PostgreSQL database: the first replica's `callflows serve` migrates it (with
    its own verticals), as a first deployment does."""
    if _pg_available:
        pytest.skip(_pg_available)
    name = f"callflows_test_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin_engine()
    _create_database(admin, name)
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(scope="module")
def verticals(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """dental_clinic only: each replica loads and warms one vertical (a quicker start)."""
    dest = tmp_path_factory.mktemp("verticals")
    shutil.copytree(ROOT / "verticals" / "dental_clinic", dest / "dental_clinic",
                    ignore=shutil.ignore_patterns("__pycache__", "knowledge.d"))
    return dest


def start_replica(name: str, workdir: Path, database_url: str, verticals: Path, tts_cache: Path,
                  public_url: str) -> Replica:
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT), CALLFLOWS_DATABASE_URL=database_url, TWILIO_AUTH_TOKEN=TOKEN,
               CALLFLOWS_PUBLIC_URL=public_url, CALLFLOWS_VERTICALS_DIR=str(verticals),
               CALLFLOWS_TTS_CACHE_DIR=str(tts_cache), CALLFLOWS_SILENCE_TIMEOUT_S="30",
               CALLFLOWS_MAX_CONN_PER_IP="0", CALLFLOWS_DRAIN_GRACE_S="60")
    env.pop("TWILIO_ACCOUNT_SID", None)
    log = workdir / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "callflows.cli.main", "--log-level", "INFO", "serve",
                                 "--port", str(port), "--threads", "16"],
                                cwd=workdir, env=env, stdout=out, stderr=out, start_new_session=True)
    return Replica(name, proc, port, log)


def wait_ready(replica: Replica, deadline: float) -> None:
    while True:
        try:
            if requests.get(f"http://{replica.address}/readyz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        assert replica.proc.poll() is None, replica.tail()
        assert time.monotonic() < deadline, f"{replica.name} did not become ready\n" + replica.tail()
        time.sleep(0.3)


def wait_until(check, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def replica_of(store: Store, call_sid: str) -> tuple[Call | None, str | None]:
    """The call's record and the id of the replica that held its Media Stream."""
    from sqlalchemy import select

    with store.session() as s:
        call = s.scalar(select(Call).where(Call.twilio_call_sid == call_sid))
        if call is None:
            return None, None
        held = s.get(ReplicaCall, call.id)
        s.expunge(call)
        return call, held.replica_id if held else None


def test_two_replicas_behind_haproxy_one_drains(proxy_binary: str, tmp_path_factory: pytest.TempPathFactory,
                                                 database_url: str, verticals: Path, audio_cache_dir: Path) -> None:
    for text in (HOURS, "no thanks that's all"):
        caller_audio(text)  # synthesised once here, not by two callers at the same moment
    tts_cache = shared_tts_cache(tmp_path_factory)
    work = tmp_path_factory.mktemp("replicas")
    proxy_port = free_port()
    public = f"http://127.0.0.1:{proxy_port}"
    replicas: list[Replica] = []
    proxy: HAProxyRun | None = None
    database = Store(database_url)
    try:
        # one after the other: the first migrates the database and fills the prompt cache, which
        # the second reuses (together they would both synthesise every sentence)
        deadline = time.monotonic() + 240
        for name in ("a", "b"):
            replicas.append(start_replica(name, work / name, database_url, verticals, tts_cache, public))
            wait_ready(replicas[-1], deadline)
        proxy = HAProxyRun({r.name: r.address for r in replicas}, work / "haproxy", port=proxy_port)
        ids = {r.name: r.health()["replica"] for r in replicas}
        proxy.start()
        proxy.wait_up(["a", "b"])

        # two calls through the proxy: one on each replica (leastconn counts the open sockets)
        first = Caller(proxy.url, [Step(say=HOURS, pause_s=2.0), Step(say="no thanks that's all", pause_s=0.5)])
        wait_until(lambda: sum(r.health()["calls_in_progress"] for r in replicas) == 1, 60, "the first call started")
        held = next(r for r in replicas if r.health()["calls_in_progress"] == 1)
        other = next(r for r in replicas if r is not held)
        second = Caller(proxy.url, [Step(say=HOURS)])
        wait_until(lambda: other.health()["calls_in_progress"] == 1, 60, "the second call went to the other replica")
        assert held.health()["calls_in_progress"] == 1

        # SIGTERM to the replica of the first call: out of the proxy, its call goes on
        held.proc.send_signal(signal.SIGTERM)
        sigterm_at = time.monotonic()
        wait_until(lambda: proxy.stats()[held.name].status != "UP", 5, "HAProxy still sends calls to the draining replica")
        out_after_s = time.monotonic() - sigterm_at
        third = Caller(proxy.url, [Step(say=HOURS)])
        # a webhook that reached the draining replica before the proxy noticed: <Redirect> to the
        # public URL, which Twilio (here answer_incoming_call) fetches through the proxy
        followed: list[str] = []
        stream, _params = answer_incoming_call(f"http://{held.address}", TOKEN, call_sid="CA" + uuid.uuid4().hex,
                                               account_sid="AC" + uuid.uuid4().hex, from_number=CALLER,
                                               to_number="+15550100000", public_url=public, redirected=followed)
        assert followed == [f"{public}/twilio/voice"]
        assert stream.startswith(f"ws://127.0.0.1:{proxy_port}/twilio/media/")
        for caller in (first, second, third):
            caller.thread.join(timeout=90)
        exit_code = held.proc.wait(timeout=60)
        exited_after_s = time.monotonic() - sigterm_at

        # the drained replica's call: both questions answered, none cut, a complete record
        assert first.error is None and first.result is not None, held.tail()
        assert len(first.result.latencies()) == 2, "the call in progress was not answered to its end"
        call, replica_id = replica_of(database, first.sim.call_sid)
        assert replica_id == ids[held.name]
        assert call is not None and call.ended_at is not None and call.status == "completed"
        assert call.outcome is not None and not call.outcome.startswith("drained")
        # the second call, on the other replica, was served as usual
        assert second.error is None and second.result is not None and len(second.result.latencies()) == 1
        assert replica_of(database, second.sim.call_sid)[1] == ids[other.name]
        # the new call went to the other replica (possibly after the draining one's <Redirect>)
        assert third.error is None and third.result is not None, other.tail()
        assert len(third.result.latencies()) == 1
        call3, replica3 = replica_of(database, third.sim.call_sid)
        assert replica3 == ids[other.name], "a new call reached the draining replica"
        assert call3 is not None and call3.status == "completed"
        # the drained replica exits by itself once its call is over
        assert exit_code == 0, held.tail()
        assert "SIGTERM: draining" in held.tail()
        for r in replicas:
            log = r.log.read_text(errors="replace")
            assert CALLER not in log and CALLER[-7:] not in log  # no caller number in the logs
        print(f"\nHAProxy took the draining replica out {out_after_s * 1000:.0f} ms after SIGTERM; it exited "
              f"{exited_after_s:.1f} s after")
    finally:
        if proxy is not None:
            proxy.stop()
        database.dispose()
        for r in replicas:
            if r.proc.poll() is None:
                try:
                    os.killpg(r.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                r.proc.wait(timeout=30)
