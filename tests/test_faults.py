"""Faults during real phone calls: a real server, the Twilio simulator, the real speech models.

* PostgreSQL restarts mid-call (a TCP proxy in front of it drops every connection and refuses
  new ones for a few seconds): the callers keep hearing replies, the records are written when
  the database returns, nothing is duplicated, every record is complete.
* The WebSocket dies mid-utterance: the record is finalised with what was said so far.
* A gunicorn worker is killed (``callflows serve --workers 2``): the other call completes; the
  killed call stays ``active`` until :mod:`callflows.store.sweeper` finishes it (``worker_lost``).
* The log file cannot be written (``/dev/full``): the call completes, one line on stderr.
* (The LLM server hanging or dying mid-call is covered by tests/test_escalation_agent.py.)

Results and what each fault does: bench/faults.md.
"""

from __future__ import annotations

import logging
import os
import re
import select as select_mod
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from callflows.config import Settings
from callflows.server import create_app
from callflows.store import Store
from callflows.store.models import Call, Turn
from callflows.store.sweeper import LOST_OUTCOME, REPLICA_LOST_OUTCOME, find_lost_calls, sweep_lost_calls
from callflows.telephony.simulator import SimulatedCall, Step
from tests.fixtures.gunicorn import shared_tts_cache
from tests.fixtures.twilio import LiveServer

pytestmark = pytest.mark.speech

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "faults-test-auth-token"
HOURS = "what are your opening hours"
HOURS_ANSWER = "Monday to Friday"


# --------------------------------------------------------------------------- #
# shared set-up: one vertical, a TTS prompt cache shared by every server here
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def tts_cache(tmp_path_factory) -> Path:
    """Static prompts synthesised once for the module (or kept in $CALLFLOWS_TEST_TTS_CACHE)."""
    return shared_tts_cache(tmp_path_factory)


@pytest.fixture(scope="module")
def verticals(tmp_path_factory) -> Path:
    """Only dental_clinic: warm-up synthesises one vertical's prompts, not all of them."""
    dest = tmp_path_factory.mktemp("verticals")
    shutil.copytree(ROOT / "verticals" / "dental_clinic", dest / "dental_clinic",
                    ignore=shutil.ignore_patterns("__pycache__", "knowledge.d"))
    return dest


@pytest.fixture
def phone_env(monkeypatch, verticals, tts_cache, audio_cache_dir):
    monkeypatch.setenv("CALLFLOWS_VERTICALS_DIR", str(verticals))
    return tts_cache


def start_phone_server(store, tts_cache: Path) -> tuple[LiveServer, object]:
    settings = replace(Settings(), twilio_auth_token=TOKEN, tts_cache_dir=tts_cache, silence_timeout_s=30.0)
    app = create_app(settings, store)
    services = app.extensions["callflows"]
    services.warm_up()
    server = LiveServer(app)
    server.__enter__()
    return server, services


def call_record(store, call_sid):
    with store.session() as s:
        call = s.scalar(select(Call).where(Call.twilio_call_sid == call_sid))
        if call is None:
            return None, []
        turns = list(s.scalars(select(Turn).where(Turn.call_id == call.id).order_by(Turn.seq)))
        return call, turns


def wait_ended(store, call_sid, timeout=30.0):
    deadline = time.time() + timeout
    while True:
        try:
            call, turns = call_record(store, call_sid)
        except Exception:  # noqa: BLE001 - the database may still be coming back
            call, turns = None, []
        if (call is not None and call.ended_at is not None) or time.time() > deadline:
            return call, turns
        time.sleep(0.3)


def assert_complete(call, turns):
    """The record of a finished call: closed, outcome set, turns numbered 1..n with no gap or repeat."""
    assert call is not None, "no call record"
    assert call.ended_at is not None and call.status in ("completed", "failed") and call.outcome
    seqs = [t.seq for t in turns]
    assert seqs == list(range(1, len(turns) + 1)), seqs
    assert turns and turns[0].speaker == "bot"


# --------------------------------------------------------------------------- #
# a PostgreSQL "restart": a proxy that drops every connection and refuses new ones
# --------------------------------------------------------------------------- #


class FlakyTcpProxy:
    """127.0.0.1:<port> -> target.  ``outage(seconds)``: reset every open connection, refuse
    (accept-and-reset) new ones for ``seconds``, then accept again: a server restart as the
    app sees it."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self._down = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self.accepted = 0
        self.refused = 0
        self.dropped = 0
        self.windows: list[tuple[float, float]] = []  # (start, end) wall-clock of each outage
        self._thread = threading.Thread(target=self._accept_loop, name="pg-proxy", daemon=True)
        self._thread.start()

    @staticmethod
    def _reset(sock: socket.socket) -> None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST, not FIN
        except OSError:
            pass
        try:
            sock.close()
        except OSError:
            pass

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            if self._down.is_set():
                self.refused += 1
                self._reset(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=3)
            except OSError:
                self._reset(client)
                continue
            self.accepted += 1
            with self._lock:
                self._open.update((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        try:
            while not self._stop.is_set():
                readable, _, _ = select_mod.select([a, b], [], [], 0.2)
                for src in readable:
                    data = src.recv(65536)
                    if not data:
                        return
                    peers[src].sendall(data)
        except (OSError, ValueError):
            pass
        finally:
            with self._lock:
                self._open.discard(a)
                self._open.discard(b)
            for sock in (a, b):
                self._reset(sock)

    def outage(self, seconds: float) -> None:
        """Blocks for ``seconds``: everything dropped, nothing accepted; then back."""
        start = time.time()
        self._down.set()
        with self._lock:
            victims = list(self._open)
            self._open.clear()
        self.dropped += len(victims) // 2
        for sock in victims:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._reset(sock)
        time.sleep(seconds)
        self._down.clear()
        self.windows.append((start, time.time()))

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        with self._lock:
            for sock in list(self._open):
                self._reset(sock)


@pytest.fixture
def proxied_pg(pg_store):
    """(the store the app uses, through the proxy; a direct store for the test's own reads; the proxy)."""
    proxy = FlakyTcpProxy(("127.0.0.1", make_url(pg_store.url).port or 5432))
    url = make_url(pg_store.url).set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    app_store = Store(url, connect_args={"connect_timeout": 3})
    try:
        yield app_store, pg_store, proxy
    finally:
        app_store.dispose()
        proxy.close()


def _bot_started_wall(sim: SimulatedCall) -> list[float]:
    """Wall-clock start of each bot utterance the simulated caller heard."""
    offset = time.time() - time.perf_counter()
    return [u.started_at + offset for u in sim._bot]


def test_postgres_restart_mid_call_calls_continue_and_records_are_complete(phone_env, proxied_pg):
    app_store, direct, proxy = proxied_pg
    server, _ = start_phone_server(app_store, phone_env)
    try:
        sims = [SimulatedCall(server.url, auth_token=TOKEN) for _ in range(2)]
        steps = [Step(say=HOURS), Step(say="where are you located"), Step(say="is there parking"),
                 Step(say="no thanks")]
        results: dict[int, object] = {}
        errors: list[BaseException] = []

        def run(i: int) -> None:
            try:
                results[i] = sims[i].run(steps, turn_timeout=45)
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
            time.sleep(1.0)
        # the outage begins once both callers have heard their first answer
        deadline = time.time() + 120
        while any(len(s._bot) < 2 for s in sims) and time.time() < deadline:
            time.sleep(0.05)
        assert all(len(s._bot) >= 2 for s in sims), ("the calls did not get going",
                                                      [len(s._bot) for s in sims], errors)
        proxy.outage(20.0)  # from the first answer until past the second question's reply
        for t in threads:
            t.join(timeout=240)
        assert not errors, errors
        start, end = proxy.windows[0]
        assert proxy.dropped >= 1 and proxy.refused >= 1, (proxy.dropped, proxy.refused)

        for sim in sims:
            # the caller kept hearing replies: one spoken inside the outage, and more after it
            heard = _bot_started_wall(sim)
            assert any(start <= at <= end for at in heard), (start, end, heard)
            assert any(at > end for at in heard)
            call, turns = wait_ended(direct, sim.call_sid, timeout=60)
            assert_complete(call, turns)
            speakers = [t.speaker for t in turns]
            assert speakers.count("caller") >= 4, [(t.speaker, t.text) for t in turns]
            # turns spoken during the outage reached the database once it was back
            during = [t for t in turns if start <= t.started_at.timestamp() <= end]
            assert during, "no turn from the outage was written"
            bot_text = " ".join(t.text for t in turns if t.speaker == "bot")
            assert HOURS_ANSWER in bot_text
            caller_texts = [t.text for t in turns if t.speaker == "caller"]
            assert len(caller_texts) == len(set(caller_texts)), caller_texts  # nothing written twice
        with direct.session() as s:
            dupes = s.execute(select(Turn.call_id, Turn.seq, func.count()).group_by(Turn.call_id, Turn.seq)
                              .having(func.count() > 1)).all()
            assert dupes == []
            open_calls = s.scalar(select(func.count()).select_from(Call).where(Call.ended_at.is_(None)))
            assert open_calls == 0
    finally:
        server.__exit__(None, None, None)


class RecordLost(AssertionError):
    """The call record was not completed once the database came back."""


def test_postgres_down_when_the_call_ends_records_are_written_when_it_returns(phone_env, proxied_pg):
    app_store, direct, proxy = proxied_pg
    server, services = start_phone_server(app_store, phone_env)
    try:
        sim = SimulatedCall(server.url, auth_token=TOKEN)
        sim._connect()
        threads = [threading.Thread(target=sim._sender, daemon=True),
                   threading.Thread(target=sim._receiver, daemon=True)]
        for t in threads:
            t.start()
        sim.wait_for_bot(60, require_new=0)  # the greeting
        before = len(sim._bot)
        sim.say(HOURS)
        sim.wait_for_bot(60, require_new=before)
        outage = threading.Thread(target=proxy.outage, args=(15.0,))
        outage.start()  # the database goes down ...
        time.sleep(0.5)
        before = len(sim._bot)
        sim.say("where are you located")  # ... the caller asks another question, hears the answer ...
        sim.wait_for_bot(12, require_new=before)
        assert len(sim._bot) > before, "no answer while the database was down"
        assert proxy._down.is_set(), "the outage ended too early for this test"
        sim.hangup()  # ... and hangs up while it is still down
        deadline = time.time() + 10
        while services.active_calls and time.time() < deadline:
            time.sleep(0.1)
        assert services.active_calls == 0 and proxy._down.is_set()
        for t in threads:
            t.join(timeout=2)
        outage.join(timeout=30)
        time.sleep(5.0)  # the database is back: give a background retry time to write
        call, turns = call_record(direct, sim.call_sid)
        if call is None or call.ended_at is None or len(turns) < 5:
            raise RecordLost(f"call={call and (call.status, call.outcome, call.ended_at)} "
                             f"turns={[(t.seq, t.speaker) for t in turns]}")
        assert_complete(call, turns)
        assert [t.speaker for t in turns][:5] == ["bot", "caller", "bot", "caller", "bot"]
    finally:
        server.__exit__(None, None, None)


# --------------------------------------------------------------------------- #
# the WebSocket dies while the caller is speaking
# --------------------------------------------------------------------------- #


def test_websocket_drop_mid_utterance_finalises_the_record(phone_env, sqlite_store):
    server, services = start_phone_server(sqlite_store, phone_env)
    try:
        sim = SimulatedCall(server.url, auth_token=TOKEN)
        sim._connect()
        threads = [threading.Thread(target=sim._sender, daemon=True),
                   threading.Thread(target=sim._receiver, daemon=True)]
        for t in threads:
            t.start()
        sim.wait_for_bot(60, require_new=0)  # the greeting
        before = len(sim._bot)
        sim.say(HOURS)
        sim.wait_for_bot(60, require_new=before)  # the answer
        sim.say("i would like to book a cleaning with doctor patel next tuesday")
        time.sleep(0.8)  # mid-sentence: caller audio still queued
        with sim._lock:
            assert sim._outgoing, "the utterance was already sent"
        raw = sim._ws.sock  # the client library forgets it once the receiver sees the error
        raw.shutdown(socket.SHUT_RDWR)  # no stop event, no close frame: the line dies
        raw.close()
        sim._closed.set()
        for t in threads:
            t.join(timeout=2)
        call, turns = wait_ended(sqlite_store, sim.call_sid)
        assert_complete(call, turns)
        assert call.status == "completed" and call.outcome in ("socket_closed", "caller_hung_up", "faq_answered"), \
            call.outcome
        assert [t.speaker for t in turns][:3] == ["bot", "caller", "bot"]
        assert HOURS_ANSWER in turns[2].text
        deadline = time.time() + 10
        while services.active_calls and time.time() < deadline:
            time.sleep(0.1)
        assert services.active_calls == 0  # the handler let go of the call
    finally:
        server.__exit__(None, None, None)


# --------------------------------------------------------------------------- #
# a worker process is killed
# --------------------------------------------------------------------------- #


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(entry))
    return out


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        pass
    return inodes


def _server_side_inode(server_port: int, client_port: int) -> str | None:
    """The inode of the server's end of the TCP connection from ``client_port``."""
    want_local, want_remote = f"{server_port:04X}", f"{client_port:04X}"
    with open("/proc/net/tcp") as fh:
        next(fh)
        for line in fh:
            parts = line.split()
            local, remote, inode = parts[1], parts[2], parts[9]
            if local.endswith(":" + want_local) and remote.endswith(":" + want_remote):
                return inode
    return None


def _worker_of(master: int, server_port: int, sim: SimulatedCall) -> int | None:
    client_port = sim._ws.sock.getsockname()[1]
    deadline = time.time() + 5
    while time.time() < deadline:
        inode = _server_side_inode(server_port, client_port)
        if inode:
            for pid in _children(master):
                if inode in _socket_inodes(pid):
                    return pid
        time.sleep(0.1)
    return None


class _Caller:
    """A simulated call run step by step in its own thread."""

    def __init__(self, url: str, steps: list[Step]):
        self.sim = SimulatedCall(url)  # --insecure-dev: nothing to sign
        self.steps = steps
        self.result = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.result = self.sim.run(self.steps, turn_timeout=60)
        except BaseException as exc:  # noqa: BLE001
            self.error = exc

    def start(self) -> _Caller:
        self.thread.start()
        deadline = time.time() + 30
        while self.sim._ws is None and time.time() < deadline:
            time.sleep(0.05)
        return self


def test_killed_worker_other_call_completes_and_the_lost_call_is_swept(phone_env, tmp_path, verticals):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    db = tmp_path / "serve.db"
    env = dict(os.environ, CALLFLOWS_DATABASE_URL=f"sqlite:///{db}", CALLFLOWS_TTS_CACHE_DIR=str(phone_env),
               CALLFLOWS_VERTICALS_DIR=str(verticals), CALLFLOWS_SILENCE_TIMEOUT_S="30",
               CALLFLOWS_LOG_LEVEL="INFO", PYTHONPATH=str(ROOT),
               CALLFLOWS_REPLICA_STALE_S="600")  # the heartbeat sweep (tests/test_drain_processes.py) waits here
    env.pop("TWILIO_AUTH_TOKEN", None)
    exe = Path(sys.executable).parent / "callflows"
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen([str(exe), "serve", "--workers", "2", "--threads", "8", "--port", str(port),
                                 "--insecure-dev"], cwd=tmp_path, env=env, stdout=log_file, stderr=log_file)
    callers: list[_Caller] = []
    try:
        deadline = time.time() + 240
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            assert proc.poll() is None, log_path.read_text()[-3000:]
            assert time.time() < deadline, "callflows serve did not start"
            time.sleep(0.5)
        url = f"http://127.0.0.1:{port}"
        # call A: long, several questions; it must finish normally
        a = _Caller(url, [Step(say=HOURS), Step(say="where are you located", pause_s=3.0),
                          Step(say="is there parking", pause_s=3.0), Step(say="no thanks")]).start()
        callers.append(a)
        worker_a = _worker_of(proc.pid, port, a.sim)
        assert worker_a, "call A's worker not found"
        # call B: on the other worker (calls go to whichever worker accepts first: retry until one does)
        b = None
        deadline = time.time() + 180
        while time.time() < deadline:
            candidate = _Caller(url, [Step(say=HOURS), Step(say="no thanks", pause_s=120.0)]).start()
            callers.append(candidate)
            worker = _worker_of(proc.pid, port, candidate.sim)
            if worker and worker != worker_a:
                b, worker_b = candidate, worker
                break
            candidate.sim.hangup()
            time.sleep(1.0)
        assert b is not None, "no call landed on the second worker"
        # B has had its first answer: kill its worker
        deadline = time.time() + 120
        while len(b.sim._bot) < 2 and time.time() < deadline:
            time.sleep(0.1)
        assert len(b.sim._bot) >= 2
        time.sleep(1.0)
        killed_at = datetime.now(timezone.utc)
        os.kill(worker_b, signal.SIGKILL)
        b.thread.join(timeout=30)
        assert b.sim._closed_by_server or b.sim._closed.is_set()
        a.thread.join(timeout=300)
        assert a.error is None, a.error
        assert not a.thread.is_alive()
        assert worker_a in _children(proc.pid), "call A's worker died too"

        store = Store(f"sqlite:///{db}")
        try:
            call_a, turns_a = wait_ended(store, a.sim.call_sid, timeout=30)
            assert_complete(call_a, turns_a)
            assert call_a.status == "completed"
            assert [t.speaker for t in turns_a].count("caller") >= 4
            assert len(a.result.latencies()) >= 3  # every question was answered
            # the killed call: nobody finished it
            call_b, turns_b = call_record(store, b.sim.call_sid)
            assert call_b.status == "active" and call_b.ended_at is None and call_b.outcome is None
            assert [t.speaker for t in turns_b][:3] == ["bot", "caller", "bot"]
            # the sweeper: not yet (it was alive a moment ago) ...
            assert b.sim.call_sid not in _sids(store, find_lost_calls(store, timedelta(minutes=10)))
            # ... but once it has been silent longer than the threshold
            later = killed_at + timedelta(minutes=11)
            swept = sweep_lost_calls(store, timedelta(minutes=10), now=later)
            assert call_b.id in swept
            call_b, turns_b2 = call_record(store, b.sim.call_sid)
            # its worker's heartbeat is as old as its turns: the replica rule names the cause
            assert call_b.status == "failed" and call_b.outcome == REPLICA_LOST_OUTCOME
            assert call_b.ended_at is not None and call_b.ended_at <= killed_at
            assert call_b.ended_at >= max(t.started_at for t in turns_b2) - timedelta(seconds=1)
            assert call_b.summary["ended_by"] == "sweeper"
            assert [t.seq for t in turns_b2] == [t.seq for t in turns_b]  # turns kept
            call_a2, _ = call_record(store, a.sim.call_sid)
            assert (call_a2.outcome, call_a2.ended_at) == (call_a.outcome, call_a.ended_at)  # untouched
            assert sweep_lost_calls(store, timedelta(minutes=10), now=later) == []  # idempotent
        finally:
            store.dispose()
    finally:
        for caller in callers:
            caller.sim._closed.set()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _sids(store, lost):
    ids = {call_id for call_id, _ in lost}
    with store.session() as s:
        return {c.twilio_call_sid for c in s.scalars(select(Call).where(Call.id.in_(ids)))} if ids else set()


def test_sweeper_leaves_live_and_finished_calls_alone(store):
    """Without a server: the rules of the sweep, on SQLite and PostgreSQL."""
    from callflows.store import repo

    now = datetime.now(timezone.utc)
    with store.session() as s:
        old = repo.start_call(s, "dental_clinic", "phone", started_at=now - timedelta(hours=2)).id
        repo.add_turn(s, old, "bot", "hello", started_at=now - timedelta(hours=2))
        talking = repo.start_call(s, "dental_clinic", "phone", started_at=now - timedelta(hours=2)).id
        repo.add_turn(s, talking, "bot", "still here", started_at=now - timedelta(minutes=1))
        fresh = repo.start_call(s, "dental_clinic", "phone", started_at=now - timedelta(seconds=5)).id
        done = repo.start_call(s, "dental_clinic", "phone", started_at=now - timedelta(hours=3)).id
        repo.finish_call(s, done, "caller_hung_up", ended_at=now - timedelta(hours=3))
    assert sweep_lost_calls(store, timedelta(minutes=10), now=now) == [old]
    with store.session() as s:
        rows = {c.id: c for c in s.scalars(select(Call))}
        assert rows[old].outcome == LOST_OUTCOME and rows[old].status == "failed"
        assert abs((rows[old].ended_at - (now - timedelta(hours=2))).total_seconds()) < 1
        assert rows[talking].ended_at is None and rows[fresh].ended_at is None
        assert rows[done].outcome == "caller_hung_up"


# --------------------------------------------------------------------------- #
# the disk under the log file is full
# --------------------------------------------------------------------------- #


def test_log_file_on_a_full_disk_does_not_break_calls(phone_env, sqlite_store, capfd):
    from callflows.logs import configure_logging

    root = logging.getLogger()
    saved_level, saved_handlers = root.level, list(root.handlers)
    configure_logging("INFO", log_file="/dev/full")  # writes fail with ENOSPC, as on a full disk
    full = [h for h in root.handlers if getattr(h, "baseFilename", None) == "/dev/full"]
    assert len(full) == 1
    try:
        server, _ = start_phone_server(sqlite_store, phone_env)
        try:
            sim = SimulatedCall(server.url, auth_token=TOKEN)
            result = sim.run([Step(say=HOURS), Step(say="no thanks")], turn_timeout=45)
            call, turns = wait_ended(sqlite_store, sim.call_sid)
        finally:
            server.__exit__(None, None, None)
        assert_complete(call, turns)
        assert HOURS_ANSWER in " ".join(t.text for t in turns)
        assert result.latencies()
        assert full[0].callflows_dropped > 10  # the call did log (and every record failed)
        err = capfd.readouterr().err
        assert len(re.findall(r"logging to /dev/full failed", err)) == 1, err[-2000:]
        assert "No space left on device" in err
        assert "--- Logging error ---" not in err
    finally:
        for handler in root.handlers[:]:
            if handler not in saved_handlers:
                root.removeHandler(handler)
                handler.close()
        root.setLevel(saved_level)
