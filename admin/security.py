"""Sessions, CSRF tokens, roles and passwords for the admin.

* CSRF: one random token per session (``session["csrf"]``), put in every form as
  ``csrf_token``; every POST/PUT/PATCH/DELETE must send it back (form field or
  ``X-CSRF-Token`` header), compared in constant time, else 400.
* Login required: every endpoint but ``auth.login`` and ``static`` needs a logged-in user
  (else a redirect to the login page; 401 for non-GET requests).
* Roles: viewer < editor < admin; :func:`require_role` answers 403 below the role.
* Lockout: after ``ADMIN_MAX_FAILED_LOGINS`` failures in a row an account is locked for
  ``ADMIN_LOCKOUT_MINUTES``.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime, timedelta
from functools import wraps
from typing import Any, Callable

from flask import Flask, abort, current_app, g, redirect, request, session, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from admin.models import ROLES, AdminUser
from callflows.store import repo
from callflows.store.types import to_utc, utcnow

PUBLIC_ENDPOINTS = {"auth.login", "static"}
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
MIN_PASSWORD_LENGTH = 8
# Checked against when the user does not exist, so both cases take the same time.
_DUMMY_HASH = generate_password_hash("not-a-real-password-" + secrets.token_hex(8))


# --------------------------------------------------------------------------- CSRF


def csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def _check_csrf() -> None:
    if request.method not in UNSAFE_METHODS or not current_app.config.get("ADMIN_CSRF_ENABLED", True):
        return
    expected = session.get("csrf")
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    if not expected or not hmac.compare_digest(str(expected), str(sent)):
        abort(400, description="The form has expired or did not come from this site (CSRF check failed). "
                               "Go back, reload the page and try again.")


# --------------------------------------------------------------------------- users


def hash_password(password: str) -> str:
    return generate_password_hash(password)


def create_user(s: Session, username: str, password: str, role: str = "viewer", actor: str = "cli") -> AdminUser:
    username = username.strip()
    if not username or len(username) > 64:
        raise ValueError("username must be 1 to 64 characters")
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    if get_user(s, username) is not None:
        raise ValueError(f"user {username!r} exists already")
    user = AdminUser(username=username, password_hash=hash_password(password), role=role, failed_logins=0,
                     created_at=utcnow())
    s.add(user)
    s.flush()
    repo.audit(s, actor, "user.create", f"user:{username}", {"role": role})
    return user


def get_user(s: Session, username: str) -> AdminUser | None:
    return s.scalars(select(AdminUser).where(AdminUser.username == username.strip())).first()


def is_locked(user: AdminUser, now: datetime | None = None) -> bool:
    return user.locked_until is not None and to_utc(user.locked_until) > (now or utcnow())


def authenticate(s: Session, username: str, password: str, *, max_failures: int = 5,
                 lock_minutes: int = 15) -> tuple[AdminUser | None, str | None]:
    """(user, None) on success, else (None, message). Counts failures and locks the account."""
    user = get_user(s, username) if username else None
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        repo.audit(s, username[:128] or "?", "auth.login_failed", "admin", {"reason": "unknown user"})
        return None, "Wrong username or password."
    if is_locked(user):
        repo.audit(s, user.username, "auth.login_refused", f"user:{user.username}", {"reason": "locked"})
        return None, "This account is locked after too many failed logins. Try again later or ask an admin."
    if not check_password_hash(user.password_hash, password):
        user.failed_logins = (user.failed_logins or 0) + 1
        detail: dict[str, Any] = {"failures": user.failed_logins}
        if user.failed_logins >= max_failures:
            user.locked_until = utcnow() + timedelta(minutes=lock_minutes)
            user.failed_logins = 0
            repo.audit(s, user.username, "auth.lockout", f"user:{user.username}", {"minutes": lock_minutes})
            return None, "Too many failed logins: this account is locked for a while."
        repo.audit(s, user.username, "auth.login_failed", f"user:{user.username}", detail)
        return None, "Wrong username or password."
    user.failed_logins = 0
    user.locked_until = None
    repo.audit(s, user.username, "auth.login", f"user:{user.username}")
    return user, None


# --------------------------------------------------------------------------- request hooks


def _load_user() -> Any:
    g.user = None
    uid = session.get("uid")
    if uid is None or request.endpoint == "static":
        return None
    with current_app.extensions["callflows_store"].session() as s:
        user = s.get(AdminUser, uid)
        # the session is bound to the password hash: a changed password logs every session out
        if user is None or session.get("pw") != user.password_hash[-16:]:
            session.clear()
            return None
        g.user = user
    return None


def _require_login() -> Any:
    if request.endpoint in PUBLIC_ENDPOINTS or request.endpoint is None:
        return None
    if g.user is None:
        if request.method != "GET":
            abort(401)
        return redirect(url_for("auth.login", next=request.full_path if request.query_string else request.path))
    return None


def login_user(user: AdminUser) -> None:
    session.clear()  # a fresh session: no fixation
    session.permanent = True
    session["uid"] = user.id
    session["pw"] = user.password_hash[-16:]
    session["csrf"] = secrets.token_urlsafe(32)


def require_role(role: str) -> Callable:
    """Decorator: 403 unless the logged-in user has at least ``role``."""

    def deco(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if g.get("user") is None:
                abort(401)
            if not g.user.can(role):
                abort(403, description=f"This needs the {role} role; you are a {g.user.role}.")
            return view(*args, **kwargs)

        return wrapped

    return deco


def _security_headers(response: Any) -> Any:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    )
    if request.endpoint != "static":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def install(app: Flask) -> None:
    """Hook the session, CSRF and login checks into the app (order matters)."""
    app.before_request(_load_user)
    app.before_request(_check_csrf)
    app.before_request(_require_login)
    app.after_request(_security_headers)
    app.jinja_env.globals["csrf_token"] = csrf_token
