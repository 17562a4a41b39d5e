"""The phone server's Flask app: ``create_app(settings=None, store=None)``.

Serves Twilio's webhooks and Media Stream sockets (``callflows.telephony.routes``).  Refuses to
start without ``TWILIO_AUTH_TOKEN`` (nothing could tell Twilio from anyone else) unless
``CALLFLOWS_INSECURE_DEV`` / ``--insecure-dev`` says this is a development machine.
Run it with ``callflows serve`` (gunicorn, threads); tests run it under werkzeug.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from flask import Flask

from callflows.config import Settings
from callflows.telephony.drain_routes import install_drain
from callflows.telephony.routes import EXTENSION_KEY, TwilioContext, bp
from callflows.telephony.security import TwilioSignatureChecker
from callflows.telephony.stream_grant import StreamGrants, derive_key

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 64 * 1024
"""Twilio's webhooks are form posts of a few kilobytes."""
MAX_WS_MESSAGE_BYTES = 1024 * 1024
"""simple-websocket closes the socket (1009) past this; messages up to it are read and the
parser refuses (and skips) anything over 64 KiB."""

_UNSET: Any = object()


def _default_store(settings: Settings) -> Any:
    from callflows.store import Store

    return Store(settings.database_url) if settings.database_url else Store.from_env()


def create_app(settings: Settings | None = None, store: Any = None, *, services: Any = _UNSET) -> Flask:
    """The phone server.  ``services`` (tests) replaces ``PhoneServices(settings, store)``."""
    settings = settings or Settings.from_env()
    if not settings.twilio_auth_token and not settings.insecure_dev:
        raise RuntimeError(
            "TWILIO_AUTH_TOKEN is not set: the server cannot check that requests come from Twilio. "
            "Set it, or set CALLFLOWS_INSECURE_DEV=1 (or pass --insecure-dev) on a development machine."
        )
    _check_recording(settings)
    if store is None:
        store = _default_store(settings)
        interval = float(os.environ.get("CALLFLOWS_SWEEP_INTERVAL_S", "60") or 0)
        if interval > 0:  # finish calls a killed worker left open (callflows/store/sweeper.py)
            from callflows.store.sweeper import start_sweeper

            start_sweeper(store, interval_s=interval)
            # recordings past their vertical's retention: deleted and audited (callflows/store/recordings.py)
            from callflows.recordings.vault import RecordingVault
            from callflows.store.recordings import start_recording_sweeper

            start_recording_sweeper(store, RecordingVault(settings.recordings_dir))

    app = Flask("callflows", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    app.config["MAX_FORM_MEMORY_SIZE"] = MAX_REQUEST_BYTES
    app.config["SOCK_SERVER_OPTIONS"] = {"max_message_size": MAX_WS_MESSAGE_BYTES}
    app.config["CALLFLOWS_SETTINGS"] = settings

    checker = None
    if settings.twilio_auth_token:
        checker = TwilioSignatureChecker(settings.twilio_auth_token, settings.public_url)
    else:
        log.warning("INSECURE: no TWILIO_AUTH_TOKEN; Twilio signatures are NOT checked (development only)")
    if not settings.public_url:
        log.warning("CALLFLOWS_PUBLIC_URL is not set: stream URLs and signatures use the request's host")

    grants = StreamGrants(derive_key(settings.stream_secret, settings.twilio_auth_token))
    app.extensions[EXTENSION_KEY] = TwilioContext(settings=settings, store=store, checker=checker, grants=grants)
    if services is _UNSET:
        services = _phone_services(settings, store)
    app.extensions["callflows"] = services
    app.register_blueprint(bp)
    install_drain(app, settings, store)  # /healthz, /readyz, calls tracked for the drain on SIGTERM
    return app


def _check_recording(settings: Settings) -> None:
    """Refuse to start when a vertical's ``recording:`` section is broken, or a vertical records
    and ``CALLFLOWS_RECORDING_KEY`` is missing or not a key (callflows/telephony/call_recording.py
    says why this is a start error rather than calls without a recording)."""
    from callflows.telephony.call_recording import check_recording_setup
    from callflows.verticals import list_verticals, vertical_root

    roots = {name: str(vertical_root(name)) for name in list_verticals()}
    recording = check_recording_setup(roots, settings.recording_keys, str(settings.recordings_dir))
    if recording:
        log.info("call recording is on for %d vertical(s); files in %s", recording, settings.recordings_dir)


def _phone_services(settings: Settings, store: Any) -> Any:
    try:
        from callflows.telephony.services import PhoneServices
    except ModuleNotFoundError as exc:
        if exc.name != "callflows.telephony.services":
            raise
        log.warning("callflows.telephony.services is missing: calls cannot be answered")
        return None
    return PhoneServices(settings, store)
