"""A real Prometheus server scraping a phone server's ``GET /metrics``, for the load test and the tests.

Prometheus is the distribution's binary (Debian 12: ``apt-get install prometheus``, 2.42; see
scripts/install.sh), run as our own subprocess with our own config and a temporary storage folder,
never the packaged system service::

    with PrometheusRun("127.0.0.1:8080", workdir) as prom:
        prom.wait_for_scrape()
        ...
        prom.query('sum by (outcome) (callflows_calls_total)')   # -> [Sample(labels, value)]

The scrape job is ``callflows`` (``/metrics`` every ``scrape_interval``). When the phone server
wants a bearer token (``CALLFLOWS_METRICS_TOKEN``), pass it as ``token``: it is written to a
credentials file (mode 0600) that the scrape config names, never into the config itself.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import yaml

JOB = "callflows"
# the metric names of callflows/telephony/metrics.py as Prometheus stores them
CALLS_IN_PROGRESS = "callflows_calls_in_progress"
CALLS_TOTAL = "callflows_calls_total"
TURN_LATENCY = "callflows_turn_latency_seconds"
ERRORS_TOTAL = "callflows_errors_total"
TRANSFERS_TOTAL = "callflows_transfers_total"


def prometheus_binary() -> str | None:
    """The prometheus executable on PATH (Debian's package puts it in /usr/bin), or None."""
    return shutil.which("prometheus") or (str(Path("/usr/bin/prometheus")) if Path("/usr/bin/prometheus").is_file()
                                          else None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_ok(proc: subprocess.Popen, url: str, timeout_s: float, poll_s: float = 1.0) -> bool:
    """Until `url` answers 2xx (True), or `proc` exits or `timeout_s` runs out (False)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if requests.get(url, timeout=2).ok:
                return True
        except requests.RequestException:
            pass
        time.sleep(poll_s)
    return False


@dataclass(frozen=True)
class Sample:
    labels: dict[str, str]
    value: float


def run_queries(prom: PrometheusRun, queries: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Each named PromQL query evaluated now: {name: {"query", "result": [{"labels", "value"}]}}
    (or {"query", "error"} when Prometheus refuses it)."""
    out: dict[str, dict[str, Any]] = {}
    for name, expr in queries.items():
        try:
            result = [{"labels": s.labels, "value": s.value} for s in prom.query(expr)]
            out[name] = {"query": expr, "result": result}
        except (RuntimeError, requests.RequestException) as exc:
            out[name] = {"query": expr, "error": str(exc)[:300]}
    return out


def format_results(results: dict[str, dict[str, Any]]) -> str:
    """The query results as a plain table: name, labels, value (one row per series)."""
    lines = [f"{'query':<24} {'series':<44} {'value':>12}"]
    for name, entry in results.items():
        if "error" in entry:
            lines.append(f"{name:<24} {'(error) ' + entry['error'][:60]:<44}")
            continue
        if not entry["result"]:
            lines.append(f"{name:<24} {'(no series)':<44} {'-':>12}")
        for row in entry["result"]:
            labels = ",".join(f"{k}={v}" for k, v in sorted(row["labels"].items())) or "{}"
            value = row["value"]
            shown = f"{value:.4g}" if value == value else "NaN"  # NaN: a quantile with no observations
            lines.append(f"{name:<24} {labels:<44} {shown:>12}")
    return "\n".join(lines)


class PrometheusRun:
    """Prometheus scraping ``target`` (host:port) every ``scrape_interval``; a context manager."""

    def __init__(self, target: str, workdir: Path, scrape_interval: str = "2s", token: str | None = None,
                 binary: str | None = None):
        self.target = target
        self.workdir = Path(workdir)
        self.scrape_interval = scrape_interval
        self.token = token
        self.binary = binary or prometheus_binary()
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.started_at = 0.0

    @property
    def log(self) -> Path:
        return self.workdir / "prometheus.log"

    def config(self) -> dict[str, Any]:
        job: dict[str, Any] = {"job_name": JOB, "metrics_path": "/metrics", "scrape_interval": self.scrape_interval,
                               "scrape_timeout": self.scrape_interval,
                               "static_configs": [{"targets": [self.target]}]}
        if self.token:
            secret = self.workdir / "metrics_token"
            secret.write_text(self.token)
            secret.chmod(0o600)
            job["authorization"] = {"type": "Bearer", "credentials_file": str(secret)}
        return {"global": {"scrape_interval": self.scrape_interval, "evaluation_interval": self.scrape_interval},
                "scrape_configs": [job]}

    def start(self, timeout_s: float = 60.0) -> None:
        if not self.binary:
            raise RuntimeError("no prometheus binary (apt-get install prometheus)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "prometheus.yml"
        config.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [self.binary, f"--config.file={config}", f"--storage.tsdb.path={self.workdir / 'data'}",
                 f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=1d"],
                cwd=self.workdir, stdout=log, stderr=log)
        self.started_at = time.time()
        if not wait_until_ok(self.proc, f"{self.url}/-/ready", timeout_s, poll_s=0.3):
            exited = self.proc.poll()
            self.stop()
            raise RuntimeError(f"prometheus {'exited with %s' % exited if exited is not None else 'was not ready'} "
                               f"after {time.time() - self.started_at:.0f} s:\n{self.tail()}")

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def query(self, expr: str, at: float | None = None) -> list[Sample]:
        """An instant PromQL query (``/api/v1/query``): the vector's samples, or a scalar as one sample."""
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        resp = requests.get(f"{self.url}/api/v1/query", params=params, timeout=15)
        body = resp.json()
        if body.get("status") != "success":
            raise RuntimeError(f"{expr}: {body.get('errorType')}: {body.get('error')}")
        data = body["data"]
        if data["resultType"] == "vector":
            return [Sample(dict(r["metric"]), float(r["value"][1])) for r in data["result"]]
        if data["resultType"] == "scalar":
            return [Sample({}, float(data["result"][1]))]
        raise RuntimeError(f"{expr}: unexpected result type {data['resultType']}")

    def targets(self) -> list[dict[str, Any]]:
        resp = requests.get(f"{self.url}/api/v1/targets", timeout=10)
        return resp.json()["data"]["activeTargets"]

    def wait_for_scrape(self, timeout_s: float = 30.0, after: float | None = None) -> None:
        """Until the target has been scraped successfully (after ``after``, a time.time(), if given)."""
        deadline = time.monotonic() + timeout_s
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            for target in self.targets():
                last = target
                scraped = target.get("lastScrape", "")
                if target.get("health") == "up" and (after is None or _iso_to_epoch(scraped) > after):
                    return
            time.sleep(0.3)
        raise RuntimeError(f"no successful scrape of {self.target}: {last.get('health')} {last.get('lastError')}\n"
                           f"{self.tail()}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def __enter__(self) -> PrometheusRun:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def _iso_to_epoch(text: str) -> float:
    """Prometheus's RFC 3339 timestamps (nanoseconds, 'Z' or an offset) as epoch seconds; 0 if unparsable."""
    from datetime import datetime

    if not text or text.startswith("0001-"):
        return 0.0
    head, _, rest = text.partition(".")
    frac, zone = "", rest
    for i, ch in enumerate(rest):
        if not ch.isdigit():
            frac, zone = rest[:i], rest[i:]
            break
    zone = "+00:00" if zone in ("Z", "") else zone
    try:
        return datetime.fromisoformat(f"{head}.{(frac or '0')[:6]}{zone}").timestamp()
    except ValueError:
        return 0.0


def token_from_env() -> str | None:
    """The phone server's CALLFLOWS_METRICS_TOKEN, if this process's environment sets one."""
    return os.environ.get("CALLFLOWS_METRICS_TOKEN") or None
