"""`callflows serve`: the phone server under gunicorn (one process, many threads).

Why one gthread worker with many threads:
1. Each call's pipeline is threads (socket reader, dialogue/speech), so a call holds one gunicorn thread for its whole length.
2. The speech and NLU models are shared in-process by every call: one worker = one copy of them in memory.
3. Several workers on one machine would each load the models and split a 2-core CPU that is already the bottleneck.
4. So ``--threads`` bounds the calls and requests a process holds at once; flask-sock supports gunicorn threads.
5. Scale out with more processes or replicas behind a proxy (each with its own models), not more workers here.

The worker is ``SlowClientWorker``, gunicorn's gthread worker extended (``callflows/telephony/http_worker.py``):
request heads are read in its event loop with a timeout, bodies get a timeout, connections per address are limited
(``--header-timeout``, ``--body-timeout``, ``--max-conn-per-ip``; CALLFLOWS_HEADER_TIMEOUT_S,
CALLFLOWS_BODY_TIMEOUT_S, CALLFLOWS_MAX_CONN_PER_IP), so a thread is only ever held by a request whose
head has arrived: a webhook (milliseconds), a call (its length), a slow body (at most the body timeout)
or a stream not yet started (the media route's start timeout).

Why 256 threads by default (32 before): calls are bounded by the CPU, not by threads (2 cores carry
about 16 calls, bench/README.md), so threads are the reserve that slow or idle clients must exhaust
before a call waits. The pool starts threads only when it needs them and an idle one costs little
memory, and 256 is four times the per-address limit: one address can hold at most a quarter of them.
"""

from __future__ import annotations

import ctypes
import dataclasses
import gc
import logging
import os
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from callflows.telephony.http_worker import SlowClientLimits

log = logging.getLogger(__name__)


DEFAULT_THREADS = 256
WORKER_CLASS = "callflows.telephony.drain_worker.DrainingWorker"  # SlowClientWorker + the drain on SIGTERM
WORKER_CONNECTIONS = 4096  # open connections per worker (gunicorn's default 1000); heads waiting count
GRACEFUL_MARGIN_S = 15  # after the wrap-up: the worker's own exit
LIMITS_OPTION = "slow_client_limits"  # not a gunicorn setting: make_gunicorn_app hands it to the worker
LIMIT_ENV = {"header_timeout_s": "CALLFLOWS_HEADER_TIMEOUT_S", "body_timeout_s": "CALLFLOWS_BODY_TIMEOUT_S",
             "max_conn_per_ip": "CALLFLOWS_MAX_CONN_PER_IP"}


def slow_client_limits(**given: float | int | None) -> SlowClientLimits:
    """The worker's limits: the values given (not None), else CALLFLOWS_HEADER_TIMEOUT_S,
    CALLFLOWS_BODY_TIMEOUT_S and CALLFLOWS_MAX_CONN_PER_IP, else the worker's defaults."""
    from callflows.telephony.http_worker import SlowClientLimits

    values: dict[str, Any] = {}
    for field, env in LIMIT_ENV.items():
        value = given.get(field)
        if value is None and os.environ.get(env, "").strip():
            try:
                value = (int if field == "max_conn_per_ip" else float)(os.environ[env])
            except ValueError:
                raise ValueError(f"{env} must be a number, not {os.environ[env]!r}") from None
        if value is not None:
            if value < 0 or (value == 0 and field != "max_conn_per_ip"):
                raise ValueError(f"{env} must be above 0 (0 turns the per-address limit off)")
            values[field] = value
    return SlowClientLimits(**values)


def graceful_timeout_s(drain_grace_s: float) -> int:
    """The master's wait for a draining worker: the grace period, the wrap-up and a margin."""
    from callflows.telephony.drain import WRAP_UP_S

    return int(drain_grace_s + WRAP_UP_S + GRACEFUL_MARGIN_S + 0.999)


def gunicorn_options(host: str, port: int, workers: int, threads: int,
                     limits: SlowClientLimits | None = None, drain_grace_s: float = 600.0) -> dict[str, Any]:
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": WORKER_CLASS,
        "threads": threads,
        "worker_connections": WORKER_CONNECTIONS,
        LIMITS_OPTION: limits or slow_client_limits(),
        # A gthread worker heartbeats from its main loop, so long calls are fine; the generous
        # timeout covers warm-up (models + cached prompts load before the worker's first heartbeat).
        "timeout": 300,
        "graceful_timeout": graceful_timeout_s(drain_grace_s),  # SIGTERM drains the calls first
        "keepalive": 5,
        "accesslog": None,  # no access log: URLs are fine, but keep the output to our own logs
        "errorlog": "-",
        "preload_app": False,  # models load in the worker, after the fork
        "control_socket_disable": True,  # gunicorn >= 24's ~/.gunicorn socket: one per user, unneeded
    }


def sweep_interval_s() -> float:
    """CALLFLOWS_SWEEP_INTERVAL_S (default 60; 0: no periodic sweep in this replica)."""
    raw = os.environ.get("CALLFLOWS_SWEEP_INTERVAL_S", "").strip()
    try:
        value = float(raw) if raw else 60.0
    except ValueError:
        raise click.ClickException(f"CALLFLOWS_SWEEP_INTERVAL_S must be a number of seconds, not {raw!r}") from None
    return max(value, 0.0)


M_ARENA_MAX = -8  # glibc's mallopt parameter


def limit_malloc_arenas(arenas: int) -> bool:
    """At most `arenas` glibc malloc arenas in this process and the workers it forks.

    glibc gives threads that allocate at the same time their own arenas (up to 8 per core), and a
    call is several threads, so a server may spread short-lived buffers over many arenas. Fewer
    arenas can keep the heap compact at some cost in lock contention; the 8-minute load runs of
    2026-12-02 (bench/README.md) showed no difference, so it is off unless asked for.
    0 leaves glibc's default. False if libc is not glibc."""
    if arenas <= 0:
        return False
    try:
        return bool(ctypes.CDLL("libc.so.6").mallopt(M_ARENA_MAX, arenas))
    except (OSError, AttributeError):
        return False


def make_gunicorn_app(app_factory: Any, options: dict[str, Any]) -> Any:
    """A gunicorn application that calls ``app_factory()`` in the worker."""
    from gunicorn.app.base import BaseApplication

    class CallflowsGunicorn(BaseApplication):  # type: ignore[misc]
        def __init__(self) -> None:
            self.options = options
            self.slow_client_limits = options.get(LIMITS_OPTION)  # read by SlowClientWorker
            super().__init__()

        def load_config(self) -> None:
            for key, value in self.options.items():
                if key in self.cfg.settings and value is not None:
                    self.cfg.set(key, value)

        def load(self) -> Any:
            return app_factory()

    return CallflowsGunicorn()


@click.command("serve")
@click.option("--host", default=None, help="Address to listen on (default: CALLFLOWS_HOST or 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default: CALLFLOWS_PORT or 8080).")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Processes; each loads its own models (keep 1 per machine).")
@click.option("--threads", type=click.IntRange(1, 1024), default=DEFAULT_THREADS, show_default=True,
              help="Threads per process: calls and requests whose head has arrived, held at once.")
@click.option("--header-timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Seconds for a request head to arrive (default: CALLFLOWS_HEADER_TIMEOUT_S or 5).")
@click.option("--body-timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Seconds for a request body to arrive (default: CALLFLOWS_BODY_TIMEOUT_S or 10).")
@click.option("--max-conn-per-ip", type=click.IntRange(min=0), default=None,
              help="Open connections per client address, 0 for no limit (default: CALLFLOWS_MAX_CONN_PER_IP "
                   "or 64; behind a proxy every connection comes from the proxy).")
@click.option("--insecure-dev", is_flag=True,
              help="Run without TWILIO_AUTH_TOKEN (signatures not checked). Development only.")
def serve(host: str | None, port: int | None, workers: int, threads: int, header_timeout: float | None,
          body_timeout: float | None, max_conn_per_ip: int | None, insecure_dev: bool) -> None:
    """Answer Twilio calls: webhooks at /twilio/voice and /twilio/status, Media Streams at /twilio/media."""
    from callflows.cli.common import open_store
    from callflows.config import Settings

    try:
        limits = slow_client_limits(header_timeout_s=header_timeout, body_timeout_s=body_timeout,
                                    max_conn_per_ip=max_conn_per_ip)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if insecure_dev:
        settings = dataclasses.replace(settings, insecure_dev=True)
    if not settings.twilio_auth_token and not settings.insecure_dev:
        raise click.ClickException(
            "TWILIO_AUTH_TOKEN is not set; set it (and CALLFLOWS_PUBLIC_URL), or pass --insecure-dev on a "
            "development machine"
        )
    if not settings.stream_secret and not settings.twilio_auth_token:
        # Development without a token: one grant key for every worker (a webhook and its stream
        # may reach different workers), made here in the master before they fork.
        settings = dataclasses.replace(settings, stream_secret=secrets.token_hex(32))
    from callflows.store.sweeper import sweep_lost_calls

    arenas = int(os.environ.get("CALLFLOWS_MALLOC_ARENAS", "0") or 0)
    if limit_malloc_arenas(arenas):  # before the worker and its threads exist
        log.info("malloc arenas limited to %d", arenas)
    sweep_lost_calls(open_store(upgrade=True),  # migrations once, in the master; calls a dead process left open
                     replica_stale_after=timedelta(seconds=settings.replica_stale_s))
    host = host or settings.host
    port = port or settings.port
    sweep_every_s = sweep_interval_s()

    def app_factory() -> Any:
        from callflows.server import create_app
        from callflows.telephony.drain_routes import start_replica

        app = create_app(settings, open_store(upgrade=False))
        services = app.extensions.get("callflows")
        warm_up = getattr(services, "warm_up", None)
        if callable(warm_up):
            log.info("loading models before accepting calls")
            warm_up()
        start_replica(app, settings, sweep_every_s)  # ready; heartbeat; sweeps for dead replicas
        # What start-up loaded lives as long as the process: out of the collector's sight, a
        # burst of new connections no longer triggers a full collection over it (~200 ms).
        gc.collect()
        gc.freeze()
        return app

    click.echo(f"callflows phone server on http://{host}:{port} ({workers} worker(s) x {threads} threads)", err=True)
    make_gunicorn_app(app_factory, gunicorn_options(host, port, workers, threads, limits,
                                                    drain_grace_s=settings.drain_grace_s)).run()
