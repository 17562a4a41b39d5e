"""Sessions, CSRF tokens, roles and passwords for the admin.

* CSRF: one random token per session (``session["csrf"]``), put in every form as
  ``csrf_token``; every POST/PUT/PATCH/DELETE must send it back (form field or
  ``X-CSRF-Token`` header), compared in constant time, else 400.
* Login required: every endpoint but ``auth.login`` and ``static`` needs a logged-in user
  (else a redirect to the login page; 401 for non-GET requests).
* Roles: viewer < editor < admin; :func:`require_role` answers 403 below the role.
* Lockout: after ``ADMIN_MAX_FAILED_LOGINS`` failures in a row a name is locked for
  ``ADMIN_LOCKOUT_MINUTES``. Failures are counted the same way for every name typed, an
  account or not (``admin_login_failures``, by a hash of the name, forgotten a day after the
  last failure, at most :data:`MAX_TRACKED_NAMES` rows), and the answers are the same two
  texts, so the login form does not tell which names are accounts.
* Sessions end on the server: each session cookie carries the user's ``session_version``;
  a logout, a new password or a new role bumps it, so a cookie copied before no longer works
  (a user who changes their own password or role keeps the session that did it).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from functools import wraps
from typing import Any, Callable

from flask import Flask, abort, current_app, g, redirect, request, session, url_for
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from admin.models import ROLES, AdminUser, LoginFailure
from callflows.store import repo
from callflows.store.types import to_utc, utcnow

PUBLIC_ENDPOINTS = {"auth.login", "static"}
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
MIN_PASSWORD_LENGTH = 8
MAX_USERNAME_LENGTH = 64
WRONG_LOGIN = "Wrong username or password."
LOCKED_LOGIN = "Too many failed logins: this username is locked for a while. Try again later or ask an admin."
MAX_TRACKED_NAMES = 10_000  # rows of admin_login_failures; the oldest go first
FAILURE_MEMORY = timedelta(hours=24)  # failures of a name are forgotten this long after its last one
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
    if not username or len(username) > MAX_USERNAME_LENGTH:
        raise ValueError(f"username must be 1 to {MAX_USERNAME_LENGTH} characters")
    if not username.isprintable():
        raise ValueError("username must not contain control characters")
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


def could_be_username(username: str) -> bool:
    """False for text no account can have (too long, control characters): never looked up."""
    return 0 < len(username) <= MAX_USERNAME_LENGTH and username.isprintable()


def get_user(s: Session, username: str) -> AdminUser | None:
    username = username.strip()
    if not could_be_username(username):
        return None
    return s.scalars(select(AdminUser).where(AdminUser.username == username)).first()


def is_locked(user: AdminUser | LoginFailure, now: datetime | None = None) -> bool:
    return user.locked_until is not None and to_utc(user.locked_until) > (now or utcnow())


def _name_hash(username: str) -> str:
    return hashlib.sha256(username.encode("utf-8", "replace")).hexdigest()


def _failures(s: Session, username: str) -> LoginFailure:
    """The failure count of a name (a new one is made room for: old and excess rows go)."""
    key = _name_hash(username)
    row = s.get(LoginFailure, key)
    if row is None:
        now = utcnow()
        s.execute(delete(LoginFailure).where(LoginFailure.last_failed_at < now - FAILURE_MEMORY))
        excess = (s.scalar(select(func.count()).select_from(LoginFailure)) or 0) - MAX_TRACKED_NAMES + 1
        if excess > 0:
            oldest = select(LoginFailure.name_hash).order_by(LoginFailure.last_failed_at).limit(excess)
            s.execute(delete(LoginFailure).where(LoginFailure.name_hash.in_(oldest.scalar_subquery())))
        row = LoginFailure(name_hash=key, failed_logins=0, last_failed_at=now)
        s.add(row)
    return row


def forget_failures(s: Session, username: str) -> None:
    """A successful login or an admin's unlock starts the count of ``username`` again."""
    s.execute(delete(LoginFailure).where(LoginFailure.name_hash == _name_hash(username)))


def _shown(username: str) -> str:
    """A typed name as the audit log keeps it (bounded, no NUL: PostgreSQL refuses it in text)."""
    return username[:128].replace("\x00", "\ufffd") or "?"


def authenticate(s: Session, username: str, password: str, *, max_failures: int = 5,
                 lock_minutes: int = 15) -> tuple[AdminUser | None, str | None]:
    """(user, None) on success, else (None, message). Counts failures and locks the name.

    A name that is no account goes through the same steps (its failures counted, locked after
    ``max_failures``, a password hash checked every time) and gets the same two messages, so
    the answers do not tell which names are accounts."""
    user = get_user(s, username) if username else None
    failures = _failures(s, username) if user is None else None
    lock = user if user is not None else failures  # an admin sees and lifts an account's lock
    who, target = (user.username, f"user:{user.username}") if user is not None else (_shown(username), "admin")
    unknown = {} if user is not None else {"reason": "unknown user"}
    if is_locked(lock):
        check_password_hash(_DUMMY_HASH, password)  # the same work as any other answer
        repo.audit(s, who, "auth.login_refused", target, {"reason": "locked"})
        return None, LOCKED_LOGIN
    right = check_password_hash(user.password_hash if user is not None else _DUMMY_HASH, password)
    if user is None or not right:
        failures = failures or _failures(s, user.username)
        failures.failed_logins = (failures.failed_logins or 0) + 1
        failures.last_failed_at = utcnow()
        if user is not None:
            user.failed_logins = failures.failed_logins
        if failures.failed_logins >= max_failures:
            lock.locked_until = utcnow() + timedelta(minutes=lock_minutes)
            lock.failed_logins = failures.failed_logins = 0
            repo.audit(s, who, "auth.lockout", target, {"minutes": lock_minutes, **unknown})
            return None, LOCKED_LOGIN
        repo.audit(s, who, "auth.login_failed", target, {"failures": failures.failed_logins, **unknown})
        return None, WRONG_LOGIN
    user.failed_logins = 0
    user.locked_until = None
    forget_failures(s, user.username)
    repo.audit(s, user.username, "auth.login", f"user:{user.username}")
    return user, None


# --------------------------------------------------------------------------- request hooks


def _load_user() -> Any:
    g.user = None
    uid = session.get("uid")
    if uid is None or request.endpoint == "static":
        return None
    with current_app.extensions["callflows_store"].session() as s:
        user = s.get(AdminUser, uid) if isinstance(uid, int) else None
        # the session is bound to the password hash and to the user's session version: a
        # logout, a changed password or role ends every older session on the server
        if (user is None or session.get("pw") != user.password_hash[-16:]
                or session.get("sv") != (user.session_version or 0)):
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
    _bind(user)
    session["csrf"] = secrets.token_urlsafe(32)


def _bind(user: AdminUser) -> None:
    session["uid"] = user.id
    session["pw"] = user.password_hash[-16:]
    session["sv"] = user.session_version or 0


def end_sessions(s: Session, user: AdminUser, keep_current: bool = True) -> None:
    """End every session of ``user`` on the server (bump their session version). With
    ``keep_current``, the request's own session stays logged in when it is that user's."""
    user.session_version = (user.session_version or 0) + 1
    s.flush()
    if keep_current and session.get("uid") == user.id:
        _bind(user)


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
