"""The drain's and the sweeper's parts in one process, on SQLite and PostgreSQL: replica
heartbeats and the sweep of a dead replica's calls, the probes' reports, the voice webhook's
redirect while draining, bad settings.  Real processes (SIGTERM, SIGKILL): tests/test_drain_processes.py.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from callflows.cli.main import cli
from callflows.config import Settings
from callflows.server import create_app
from callflows.store import Store, repo
from callflows.store.models import Call
from callflows.store.replicas import Replica, attach_call, beat, live_replicas, mark_stopped, register_replica
from callflows.store.sweeper import REPLICA_LOST_OUTCOME, sweep_lost_calls, sweep_replica_lost
from callflows.store.types import utcnow
from callflows.telephony.drain_routes import DRAIN_KEY, ReplicaState
from tests.fixtures.twilio import AUTH_TOKEN, PUBLIC_URL, sign

STALE = timedelta(seconds=60)


def _open_call(store: Store, sid: str) -> str:
    with store.session() as s:
        return repo.start_call(s, "dental_clinic", "phone", twilio_call_sid=sid, from_number="+15551234567").id


def _age(store: Store, replica_id: str, seconds: float) -> None:
    with store.session() as s:
        s.execute(update(Replica).where(Replica.id == replica_id)
                  .values(heartbeat_at=utcnow() - timedelta(seconds=seconds)))


def test_sweep_finishes_only_the_calls_of_a_dead_replica(store: Store) -> None:
    dead, alive, gone = register_replica(store, "a:1"), register_replica(store, "b:2"), register_replica(store, "c:3")
    lost, live, stopped, orphan = (_open_call(store, f"CA{n:032d}") for n in range(4))
    attach_call(store, dead, lost)
    attach_call(store, alive, live)
    attach_call(store, gone, stopped)
    _age(store, dead, 61)
    mark_stopped(store, gone)  # exited cleanly but left a call open (its wrap-up failed)
    assert beat(store, alive)
    assert not beat(store, gone)  # a stopped replica does not come back

    swept = sweep_replica_lost(store, STALE)
    assert sorted(swept) == sorted([lost, stopped])
    with store.session() as s:
        calls = {c.id: c for c in s.scalars(select(Call))}
        assert calls[lost].status == "failed" and calls[lost].outcome == REPLICA_LOST_OUTCOME
        assert calls[lost].ended_at is not None and calls[lost].summary["replica"] == dead
        assert calls[live].ended_at is None and calls[orphan].ended_at is None  # live, or no replica known
    assert sweep_replica_lost(store, STALE) == []  # idempotent
    assert [r.id for r in live_replicas(store, STALE)] == [alive]


def test_the_long_idle_sweep_still_covers_calls_without_a_replica(store: Store) -> None:
    call_id = _open_call(store, "CA" + "9" * 32)
    assert sweep_lost_calls(store, timedelta(minutes=10), now=utcnow() + timedelta(minutes=11)) == [call_id]


def test_calls_sweep_command(sqlite_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLFLOWS_DATABASE_URL", sqlite_store.url)
    replica = register_replica(sqlite_store)
    call_id = _open_call(sqlite_store, "CA" + "7" * 32)
    attach_call(sqlite_store, replica, call_id)
    _age(sqlite_store, replica, 30)
    runner = CliRunner()
    result = runner.invoke(cli, ["calls", "sweep", "--replica-stale", "20", "--json"])
    assert result.exit_code == 0, result.output
    assert f'"swept": ["{call_id}"]' in result.output
    result = runner.invoke(cli, ["calls", "sweep"])
    assert result.exit_code == 0 and "0 call(s) marked as failed" in result.output
    monkeypatch.setenv("CALLFLOWS_REPLICA_STALE_S", "soon")
    result = runner.invoke(cli, ["calls", "sweep"])
    assert result.exit_code != 0 and "CALLFLOWS_REPLICA_STALE_S must be a number of seconds" in result.output


@pytest.mark.parametrize("value", ["ten minutes", "0", "-5", "inf"])
def test_bad_drain_settings_are_clear_errors(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLFLOWS_DRAIN_GRACE_S", value)
    with pytest.raises(ValueError, match="CALLFLOWS_DRAIN_GRACE_S must be"):
        Settings.from_env()
    result = CliRunner().invoke(cli, ["serve", "--insecure-dev"])
    assert result.exit_code != 0 and "CALLFLOWS_DRAIN_GRACE_S must be" in result.output


def test_serve_drains_with_its_worker_and_waits_long_enough() -> None:
    from callflows.cli.serve import gunicorn_options, graceful_timeout_s, make_gunicorn_app
    from callflows.telephony.drain import WRAP_UP_S
    from callflows.telephony.drain_worker import DrainingWorker

    app = make_gunicorn_app(lambda: None, gunicorn_options("127.0.0.1", 8099, 1, 32, drain_grace_s=120))
    assert app.cfg.worker_class is DrainingWorker
    assert app.cfg.graceful_timeout == graceful_timeout_s(120) >= 120 + WRAP_UP_S


def _voice(client, call_sid: str = "CA" + "1" * 32):  # type: ignore[no-untyped-def]
    params = {"CallSid": call_sid, "From": "+15551234567", "To": "+15550100000", "CallStatus": "ringing"}
    headers = {"X-Twilio-Signature": sign(AUTH_TOKEN, f"{PUBLIC_URL}/twilio/voice", params)}
    return client.post("/twilio/voice", data=params, headers=headers)


def test_probes_and_the_redirect_while_draining(sqlite_store: Store) -> None:
    settings = Settings(twilio_auth_token=AUTH_TOKEN, public_url=PUBLIC_URL)
    app = create_app(settings, sqlite_store, services=None)
    state: ReplicaState = app.extensions[DRAIN_KEY]
    client = app.test_client()

    not_warm = client.get("/readyz")
    assert not_warm.status_code == 503 and not_warm.get_json()["models_loaded"] is False
    state.models_loaded = True
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json() == {"ok": True, "ready": True, "status": "serving", "models_loaded": True,
                                "database": "ok", "calls_in_progress": 0, "replica": None}
    assert ET.fromstring(_voice(client).data).find("./Connect/Stream") is not None

    assert state.drain.begin(on_done=lambda: None)
    state.drain.done.wait(5)
    assert client.get("/readyz").status_code == 503
    health = client.get("/healthz")
    assert health.status_code == 200 and health.get_json()["status"] == "draining"
    answer = _voice(client, "CA" + "2" * 32)
    assert answer.status_code == 200
    redirect = ET.fromstring(answer.data).find("./Redirect")
    assert redirect is not None and redirect.text == f"{PUBLIC_URL}/twilio/voice" and redirect.get("method") == "POST"
    back = _voice(client, "CA" + "2" * 32)  # it came back here: no other replica took it, so no loop
    assert ET.fromstring(back.data).find("./Connect/Stream") is not None
    unsigned = client.post("/twilio/voice", data={"CallSid": "CA" + "3" * 32})
    assert unsigned.status_code == 403  # the drain answers nothing unsigned
    assert client.post("/twilio/status", data={"CallSid": "CA" + "2" * 32}).status_code == 403  # as before


def test_readiness_reports_an_unreachable_database() -> None:
    store = Store("postgresql+psycopg://postgres@127.0.0.1:1/nothing")  # nothing listens on port 1
    app = create_app(Settings(twilio_auth_token=AUTH_TOKEN, public_url=PUBLIC_URL), store, services=None)
    app.extensions[DRAIN_KEY].models_loaded = True
    resp = app.test_client().get("/readyz")
    assert resp.status_code == 503 and resp.get_json()["database"] == "unreachable"
    assert app.test_client().get("/healthz").status_code == 200  # alive: not restarted for the database


def test_kubernetes_manifests_agree_with_the_server(sqlite_store: Store) -> None:
    """deploy/k8s/: YAML that parses, probes on real routes, a termination grace period above
    preStop + the drain + the wrap-up, and a sweep CronJob that runs a real command."""
    from pathlib import Path

    import yaml

    from callflows.cli.serve import GRACEFUL_MARGIN_S
    from callflows.telephony.drain import WRAP_UP_S

    root = Path(__file__).resolve().parent.parent / "deploy" / "k8s"
    docs = [doc for path in sorted(root.glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text()) if doc]
    kinds = {doc["kind"]: doc for doc in docs}
    assert {"Deployment", "Service", "Ingress", "PodDisruptionBudget", "CronJob", "Secret"} <= set(kinds)
    for doc in docs:
        assert doc["apiVersion"] and doc["metadata"]["name"]
    pod = kinds["Deployment"]["spec"]["template"]["spec"]
    (phone,) = pod["containers"]
    env = {e["name"]: e.get("value") for e in phone["env"]}
    routes = {rule.rule for rule in create_app(Settings(insecure_dev=True), sqlite_store, services=None).url_map.iter_rules()}
    assert phone["readinessProbe"]["httpGet"]["path"] == "/readyz" in routes
    assert phone["livenessProbe"]["httpGet"]["path"] == "/healthz" in routes
    pre_stop = int(phone["lifecycle"]["preStop"]["exec"]["command"][-1])
    grace = float(env["CALLFLOWS_DRAIN_GRACE_S"])
    assert pod["terminationGracePeriodSeconds"] > pre_stop + grace + WRAP_UP_S + GRACEFUL_MARGIN_S
    assert kinds["Deployment"]["spec"]["selector"]["matchLabels"] == kinds["Service"]["spec"]["selector"]
    documented = Path(__file__).resolve().parent.parent.joinpath(".env.example").read_text()
    assert all(name in documented for name in env if name.startswith("CALLFLOWS_"))
    (sweeper,) = kinds["CronJob"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert sweeper["command"][:3] == ["callflows", "calls", "sweep"]
    assert CliRunner().invoke(cli, [*sweeper["command"][1:], "--help"]).exit_code == 0
