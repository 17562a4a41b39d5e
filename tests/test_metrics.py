"""``GET /metrics`` and OpenTelemetry traces of the phone server: a real server, a real Media Stream and store; a call
plants personal data everywhere it can (caller number, outcome, summary, slots) and the
scrape, parsed as Prometheus parses it, counts the call, its turn latencies and the errors
without one personal value in a label. And Debian's Prometheus itself scrapes a real call by voice
(bench/prometheus_run.py; skipped without the binary) and PromQL finds it."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Iterator

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from callflows.config import Settings
from callflows.server import create_app
from callflows.store import Store, repo
from callflows.telephony.call import TurnLatency
from callflows.telephony.drain import LiveCalls, TrackedFactory
from callflows.telephony.routes import EXTENSION_KEY
from callflows.telephony.media_stream import StreamStart
from tests.fixtures.twilio import AUTH_TOKEN, LiveServer, StreamLeg, answer_call
from tests.test_phone_calls import TOKEN, serving, twilio_api, wait_closed  # noqa: F401 - twilio_api is a fixture

CALLER = "+15557654321"
PLANTED = ("Jane Smith", "1985-03-05", "123-45-6789", "4111111111111111", "7654321", "6789", "Jane", "1985")
PLANTED_OUTCOME = "booked for Jane Smith 1985-03-05 ssn 123-45-6789"


class PlantedHandler:
    """A call that leaves personal data in its record and two measured turns."""

    def __init__(self, services: SimpleNamespace, send: object, start: StreamStart):
        self.store: Store = services.store
        with self.store.session() as s:
            call = repo.start_call(s, "dental_clinic", "phone", twilio_call_sid=start.call_sid,
                                   from_number=start.custom_parameters.get("from"))
            repo.set_slot(s, call.id, "date_of_birth", "date", "1985-03-05", turn_seq=1, pii=True)
            repo.add_turn(s, call.id, "bot", "Hello, what is your date of birth?")
            repo.add_turn(s, call.id, "caller", "Jane Smith, March 5 1985", endpoint_ms=400, stt_ms=250, nlu_ms=30,
                          tts_first_audio_ms=180, total_ms=900, mask=False)
            repo.add_turn(s, call.id, "caller", "my social is 123-45-6789", endpoint_ms=600, stt_ms=1250,
                          nlu_ms=40, mask=False)
            self.call_id = call.id
        self.stats = SimpleNamespace(latencies=[
            TurnLatency(endpoint_ms=400, stt_ms=250, nlu_ms=30, tts_first_audio_ms=180, total_ms=900),
            TurnLatency(endpoint_ms=600, stt_ms=1250, nlu_ms=40, tts_first_audio_ms=None, total_ms=None),
        ])

    def on_event(self, event: object) -> None:
        pass

    def close(self, reason: str) -> None:
        with self.store.session() as s:
            repo.finish_call(s, self.call_id, PLANTED_OUTCOME, summary={"who": "Jane Smith", "ssn": "123-45-6789",
                                                                         "card": "4111111111111111"})


@pytest.fixture
def server(store: Store) -> Iterator[str]:
    settings = Settings(twilio_auth_token=AUTH_TOKEN)
    app = create_app(settings, store, services=SimpleNamespace(settings=settings, store=store))
    # wrapped as in production (callflows/telephony/drain_routes.py: install_drain)
    app.extensions[EXTENSION_KEY].handler_factory = TrackedFactory(lambda: PlantedHandler, LiveCalls())
    with LiveServer(app) as live:
        yield live.url


def _scrape(url: str, **headers: str) -> tuple[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    resp = requests.get(f"{url}/metrics", headers=headers, timeout=10)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/plain")
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(resp.text) for s in family.samples}
    return resp.text, samples


def _value(samples: dict, name: str, **labels: str) -> float:  # noqa: ANN001
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_a_call_is_counted_with_its_latencies_and_no_personal_data_in_the_scrape(server: str) -> None:
    _, before = _scrape(server)
    invite = answer_call(server, from_number=CALLER)
    leg = StreamLeg(invite.ws_url, invite.params, invite.params["call_sid"], invite.headers())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        _, during = _scrape(server)
        if _value(during, "callflows_calls_in_progress", vertical="dental_clinic") > \
                _value(before, "callflows_calls_in_progress", vertical="dental_clinic"):
            break
        time.sleep(0.1)
    else:
        pytest.fail("the call was never in progress")
    leg.send_raw("{not json")  # a malformed message: skipped and counted
    time.sleep(0.3)
    leg.stop()
    time.sleep(1.0)
    text, after = _scrape(server)

    def delta(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert delta("callflows_calls_total", vertical="dental_clinic", outcome="other", route="bot") == 1
    assert _value(after, "callflows_calls_in_progress", vertical="dental_clinic") == \
        _value(before, "callflows_calls_in_progress", vertical="dental_clinic")
    assert delta("callflows_turn_latency_seconds_count", part="stt") == 2
    assert delta("callflows_turn_latency_seconds_count", part="total") == 1  # a turn with no reply audio
    assert delta("callflows_turn_latency_seconds_bucket", part="stt", le="0.3") == 1
    assert delta("callflows_turn_latency_seconds_sum", part="nlu") == pytest.approx(0.07)
    assert delta("callflows_errors_total", kind="stream_message_skipped") == 1
    names_and_labels = "\n".join(line.rsplit(" ", 1)[0] for line in text.splitlines() if not line.startswith("#"))
    leaked = [p for p in PLANTED if p in names_and_labels or p.replace("-", "_") in names_and_labels]
    assert not leaked, leaked  # (sample values are numbers: a timestamp may contain any digits)
    for name, labels in after:
        for _key, value in labels:
            assert value.replace("_", "").replace(".", "").replace("+", "").isalnum() or value in ("+Inf",), value
            assert not any(ch.isdigit() for ch in value) or name.endswith("_bucket"), (name, value)


def test_the_scrape_can_require_a_bearer_token(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLFLOWS_METRICS_TOKEN", "s3cret-token")
    assert requests.get(f"{server}/metrics", timeout=10).status_code == 401
    assert requests.get(f"{server}/metrics", headers={"Authorization": "Bearer nope"}, timeout=10).status_code == 401
    _scrape(server, Authorization="Bearer s3cret-token")


def test_one_trace_per_call_with_a_span_per_turn_and_part_and_no_personal_data(server: str) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from callflows.telephony import tracing

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_provider(provider)
    try:
        invite = answer_call(server, from_number=CALLER)
        leg = StreamLeg(invite.ws_url, invite.params, invite.params["call_sid"], invite.headers())
        time.sleep(0.5)
        leg.stop()
        deadline = time.monotonic() + 10
        while not any(s.name == "call" for s in exporter.get_finished_spans()) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        tracing.use_provider(None)
    spans = exporter.get_finished_spans()
    (call,) = [s for s in spans if s.name == "call"]
    turns = [s for s in spans if s.name == "turn"]
    assert len(turns) == 2 and all(t.parent.span_id == call.context.span_id for t in turns)
    assert {s.context.trace_id for s in spans} == {call.context.trace_id}
    parts = {s.name: s for s in spans if s.parent is not None and s.parent.span_id == turns[0].context.span_id}
    assert set(parts) == {"endpoint", "stt", "nlu", "tts_first_audio"}
    assert (parts["stt"].end_time - parts["stt"].start_time) == 250_000_000
    assert parts["stt"].start_time == parts["endpoint"].end_time  # laid end to end
    assert call.attributes["callflows.vertical"] == "dental_clinic" and call.attributes["callflows.outcome"] == "other"
    everything = " ".join(f"{s.name} {({k: v for k, v in s.attributes.items() if k != 'callflows.call_id'})}"
                          for s in spans)  # (the call id is a random uuid: any digits may occur in it)
    leaked = [p for p in PLANTED if p in everything]
    assert not leaked, leaked


def test_the_grafana_dashboard_queries_only_metrics_the_server_exports(server: str) -> None:
    import json
    import re
    from pathlib import Path

    dashboard = json.loads((Path(__file__).parent.parent / "deploy/grafana/callflows-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    text, _ = _scrape(server)
    exported = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    used = {m for e in exprs for m in re.findall(r"\bcallflows_[a-z_]+", e)}
    missing = {m for m in used if m not in exported and re.sub(r"_(bucket|sum|count)$", "", m) not in exported}
    assert used and not missing, missing


@pytest.mark.speech
def test_a_real_prometheus_scrapes_a_real_call(sqlite_store: Store, twilio_api, tmp_path,  # noqa: ANN001, F811
                                               audio_cache_dir, monkeypatch: pytest.MonkeyPatch) -> None:
    """Debian's Prometheus (bench/prometheus_run.py) scrapes the phone server, with the bearer token
    the server asks for; one simulated call by voice; PromQL then sees the call's outcome counted
    once more than before it and its turn latencies in the histogram."""
    from bench.prometheus_run import CALLS_TOTAL, TURN_LATENCY, PrometheusRun, prometheus_binary
    from callflows.telephony.metrics import safe_label
    from callflows.telephony.simulator import SimulatedCall, Step

    if prometheus_binary() is None:
        pytest.skip("no prometheus binary on PATH (apt-get install prometheus; scripts/install.sh apt)")
    monkeypatch.setenv("CALLFLOWS_METRICS_TOKEN", "scrape-token-for-the-test")
    with serving(sqlite_store, twilio_api, tmp_path) as (server, _), \
            PrometheusRun(f"127.0.0.1:{server.port}", tmp_path / "prometheus", "1s",
                          token="scrape-token-for-the-test") as prom:
        prom.wait_for_scrape(timeout_s=60)
        calls_before = {s.labels.get("outcome"): s.value
                        for s in prom.query(f'sum by (outcome) ({CALLS_TOTAL}{{job="callflows"}})')}
        turns_before = sum(s.value for s in prom.query(f'{TURN_LATENCY}_count{{job="callflows",part="stt"}}'))
        sim = SimulatedCall(server.url, auth_token=TOKEN)
        result = sim.run([Step(say="what are your opening hours"), Step(say="no thanks")])
        call, turns = wait_closed(sqlite_store, sim.call_sid)
        assert call.ended_at is not None and call.outcome, [(t.speaker, t.text) for t in turns]
        assert result.latencies(), "the bot never answered a caller turn"
        outcome = safe_label(call.outcome)
        time.sleep(0.5)  # the stream's close is counted just after the record is finished
        prom.wait_for_scrape(timeout_s=30, after=time.time())
        calls = {s.labels.get("outcome"): s.value
                 for s in prom.query(f'sum by (outcome) ({CALLS_TOTAL}{{job="callflows"}})')}
        turns_after = sum(s.value for s in prom.query(f'{TURN_LATENCY}_count{{job="callflows",part="stt"}}'))
        p95 = {s.labels["part"]: s.value for s in prom.query(
            f'histogram_quantile(0.95, sum by (le, part) ({TURN_LATENCY}_bucket{{job="callflows"}}))')}
        up = prom.query('up{job="callflows"}')
    assert [s.value for s in up] == [1.0]
    assert calls.get(outcome, 0) - calls_before.get(outcome, 0) >= 1, (outcome, calls_before, calls)
    assert turns_after - turns_before >= 1, (turns_before, turns_after)
    assert {"endpoint", "stt", "nlu"} <= set(p95), p95
    assert 0 < p95["stt"] <= 10.0, p95  # a finite quantile: the buckets hold observations
