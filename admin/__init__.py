"""The Callflows admin: a Flask app for supervisors and analysts.

``create_app(store=None, config=None)`` builds it; ``callflows admin run`` serves it on its
own port, apart from the phone server. One blueprint per area: auth (login, users, audit),
flows (edit, versions, publish), testchat, calls, callbacks, numbers, dashboard.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask, g, render_template

from callflows.store import Store

__all__ = ["create_app"]

DEFAULTS: dict[str, Any] = {
    "ADMIN_MAX_FAILED_LOGINS": 5,
    "ADMIN_LOCKOUT_MINUTES": 15,
    "ADMIN_CSRF_ENABLED": True,
    "ADMIN_SECURE_COOKIES": False,  # True behind https (CALLFLOWS_ADMIN_SECURE_COOKIES=1)
    # The admin's address as browsers reach it ($CALLFLOWS_ADMIN_PUBLIC_URL, else
    # $CALLFLOWS_PUBLIC_URL); an https address always makes the session cookie Secure.
    "ADMIN_PUBLIC_URL": None,
    "ADMIN_PROXY_FIX": False,  # trust one proxy's X-Forwarded-* headers
    "ADMIN_TESTCHAT_MAX_SESSIONS": 50,
    "ADMIN_TESTCHAT_STORE_URL": None,  # None: a SQLite file beside the main database; "same": the main store
    "ADMIN_UPGRADE_DB": True,
    "ADMIN_SETTINGS": None,  # callflows Settings (recording key and folder); None: read from the environment
    "SESSION_COOKIE_NAME": "callflows_admin",
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "PERMANENT_SESSION_LIFETIME": timedelta(hours=8),
    "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
}


def _env_flag(name: str) -> bool | None:
    value = os.environ.get(name)
    if value is None:
        return None
    return value.strip().lower() in ("1", "true", "yes", "on")


def _secret_key(store: Store) -> str:
    """$CALLFLOWS_ADMIN_SECRET_KEY, else a key kept in var/admin-secret.key (made once, mode 600)."""
    env = os.environ.get("CALLFLOWS_ADMIN_SECRET_KEY")
    if env:
        return env
    db = store.engine.url.database if store.is_sqlite else None
    folder = Path(db).expanduser().resolve().parent if db and db != ":memory:" else Path.cwd() / "var"
    path = folder / "admin-secret.key"
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    folder.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(key + "\n")
    return key


def create_app(store: Store | None = None, config: dict[str, Any] | None = None) -> Flask:
    """The admin app on ``store`` (default: ``Store.from_env()``), with ``config`` overrides."""
    app = Flask(__name__)
    app.config.update(DEFAULTS)
    secure = _env_flag("CALLFLOWS_ADMIN_SECURE_COOKIES")
    if secure is not None:
        app.config["ADMIN_SECURE_COOKIES"] = secure
    public_url = (os.environ.get("CALLFLOWS_ADMIN_PUBLIC_URL") or os.environ.get("CALLFLOWS_PUBLIC_URL") or "").strip()
    if public_url:
        app.config["ADMIN_PUBLIC_URL"] = public_url
    app.config.update(config or {})
    over_https = str(app.config.get("ADMIN_PUBLIC_URL") or "").strip().lower().startswith("https://")
    app.config["SESSION_COOKIE_SECURE"] = bool(app.config["ADMIN_SECURE_COOKIES"]) or over_https

    store = store or Store.from_env()
    if app.config["ADMIN_UPGRADE_DB"]:
        store.upgrade()
    app.extensions["callflows_store"] = store
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _secret_key(store)
    if app.config["ADMIN_PROXY_FIX"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_prefix=1)  # type: ignore[method-assign]

    from admin import models  # noqa: F401 - registers admin_users on Base.metadata
    from admin import security
    from admin.auth import bp as auth_bp
    from admin.callbacks import bp as callbacks_bp
    from admin.calls import bp as calls_bp
    from admin.dashboard import bp as dashboard_bp
    from admin.flows import bp as flows_bp
    from admin.numbers import bp as numbers_bp
    from admin.recordings import bp as recordings_bp
    from admin.recordings import install as install_recordings
    from admin.testchat import TestChats
    from admin.testchat import bp as testchat_bp

    security.install(app)
    for bp in (auth_bp, dashboard_bp, flows_bp, testchat_bp, calls_bp, callbacks_bp, numbers_bp, recordings_bp):
        app.register_blueprint(bp)
    from callflows.config import Settings
    from callflows.recordings.vault import RecordingKeyError, RecordingVault

    settings = app.config.get("ADMIN_SETTINGS") or Settings.from_env()  # read once (tests pass their own)
    try:
        install_recordings(app, RecordingVault(settings.recordings_dir, settings.recording_keys))
    except RecordingKeyError as exc:  # the admin still serves everything else; playback says why not
        app.logger.error("call recordings cannot be played: %s", exc)
        install_recordings(app, RecordingVault(settings.recordings_dir))
    app.extensions["callflows_testchats"] = TestChats(app.config["ADMIN_TESTCHAT_MAX_SESSIONS"])

    from admin.views import register_filters

    register_filters(app)

    @app.context_processor
    def _globals() -> dict[str, Any]:
        return {"current_user": g.get("user")}

    for code, title in ((400, "Bad request"), (401, "Not logged in"), (403, "Not allowed"), (404, "Not found"),
                        (409, "Conflict")):
        def handler(exc: Any, code: int = code, title: str = title) -> Any:
            return render_template("error.html", code=code, title=title,
                                   message=getattr(exc, "description", "")), code

        app.register_error_handler(code, handler)
    return app


def get_store() -> Store:
    from flask import current_app

    return current_app.extensions["callflows_store"]
