"""`callflows serve`: the phone server under gunicorn (one process, many threads).

Why one gthread worker with many threads:
1. Each call's pipeline is threads (socket reader, dialogue/speech), so a call holds one gunicorn thread for its whole length.
2. The speech and NLU models are shared in-process by every call: one worker = one copy of them in memory.
3. Several workers on one machine would each load the models and split a 2-core CPU that is already the bottleneck.
4. So ``--threads`` bounds the concurrent calls (plus webhooks) a process holds; flask-sock supports gunicorn threads.
5. Scale out with more processes or replicas behind a proxy (each with its own models), not more workers here.
"""

from __future__ import annotations

import ctypes
import dataclasses
import logging
import os
from typing import Any

import click

log = logging.getLogger(__name__)


def gunicorn_options(host: str, port: int, workers: int, threads: int) -> dict[str, Any]:
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": threads,
        # A gthread worker heartbeats from its main loop, so long calls are fine; the generous
        # timeout covers warm-up (models + cached prompts load before the worker's first heartbeat).
        "timeout": 300,
        "graceful_timeout": 30,
        "keepalive": 5,
        "accesslog": None,  # no access log: URLs are fine, but keep the output to our own logs
        "errorlog": "-",
        "preload_app": False,  # models load in the worker, after the fork
        "control_socket_disable": True,  # gunicorn >= 24's ~/.gunicorn socket: one per user, unneeded
    }


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
@click.option("--threads", type=click.IntRange(1, 1024), default=32, show_default=True,
              help="Threads per process: about the number of calls held at once.")
@click.option("--insecure-dev", is_flag=True,
              help="Run without TWILIO_AUTH_TOKEN (signatures not checked). Development only.")
def serve(host: str | None, port: int | None, workers: int, threads: int, insecure_dev: bool) -> None:
    """Answer Twilio calls: webhooks at /twilio/voice and /twilio/status, Media Streams at /twilio/media."""
    from callflows.cli.common import open_store
    from callflows.config import Settings

    settings = Settings.from_env()
    if insecure_dev:
        settings = dataclasses.replace(settings, insecure_dev=True)
    if not settings.twilio_auth_token and not settings.insecure_dev:
        raise click.ClickException(
            "TWILIO_AUTH_TOKEN is not set; set it (and CALLFLOWS_PUBLIC_URL), or pass --insecure-dev on a "
            "development machine"
        )
    from callflows.store.sweeper import sweep_lost_calls

    arenas = int(os.environ.get("CALLFLOWS_MALLOC_ARENAS", "0") or 0)
    if limit_malloc_arenas(arenas):  # before the worker and its threads exist
        log.info("malloc arenas limited to %d", arenas)
    sweep_lost_calls(open_store(upgrade=True))  # migrations once, in the master; calls a dead process left open
    host = host or settings.host
    port = port or settings.port

    def app_factory() -> Any:
        from callflows.server import create_app

        app = create_app(settings, open_store(upgrade=False))
        services = app.extensions.get("callflows")
        warm_up = getattr(services, "warm_up", None)
        if callable(warm_up):
            log.info("loading models before accepting calls")
            warm_up()
        return app

    click.echo(f"callflows phone server on http://{host}:{port} ({workers} worker(s) x {threads} threads)", err=True)
    make_gunicorn_app(app_factory, gunicorn_options(host, port, workers, threads)).run()
