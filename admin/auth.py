"""Login, logout, users (admin only) and the audit log."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, session, url_for
from sqlalchemy import select

from admin.models import ROLES, AdminUser
from admin.security import (
    authenticate,
    create_user,
    end_sessions,
    forget_failures,
    get_user,
    hash_password,
    is_locked,
    login_user,
    require_role,
)
from admin.views import actor, db_text, store
from callflows.store import repo

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    if not target:
        return url_for("dashboard.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("dashboard.index")
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():  # noqa: ANN201
    if g.get("user") is not None and request.method == "GET":
        return redirect(url_for("dashboard.index"))
    error = None
    status = 200
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        with store().session() as s:
            user, error = authenticate(
                s, username, password,
                max_failures=current_app.config["ADMIN_MAX_FAILED_LOGINS"],
                lock_minutes=current_app.config["ADMIN_LOCKOUT_MINUTES"],
            )
            if user is not None:
                login_user(user)
        if error is None:
            return redirect(_safe_next(request.args.get("next")))
        status = 401
    return render_template("login.html", error=error, username=request.form.get("username", "")), status


@bp.route("/logout", methods=["POST"])
def logout():  # noqa: ANN201
    with store().session() as s:
        user = s.get(AdminUser, g.user.id)
        if user is not None:
            end_sessions(s, user, keep_current=False)  # a copy of this cookie stops working too
        repo.audit(s, actor(), "auth.logout", f"user:{actor()}")
    session.clear()
    flash("You are logged out.", "ok")
    return redirect(url_for("auth.login"))


@bp.route("/users", methods=["GET", "POST"])
@require_role("admin")
def users():  # noqa: ANN201
    if request.method == "POST":
        op = request.form.get("op")
        username = request.form.get("username", "").strip()
        with store().session() as s:
            if op == "create":
                try:
                    create_user(s, username, request.form.get("password", ""), request.form.get("role", "viewer"),
                                actor=actor())
                    flash(f"User {username} created.", "ok")
                except ValueError as exc:
                    flash(str(exc), "error")
            else:
                user = get_user(s, username)
                if user is None:
                    abort(404)
                if op == "role" and request.form.get("role") in ROLES:
                    if user.username == actor() and request.form["role"] != "admin":
                        flash("You cannot take the admin role from yourself.", "error")
                    else:
                        if user.role != request.form["role"]:
                            user.role = request.form["role"]
                            end_sessions(s, user)  # they log in again with the new role
                        repo.audit(s, actor(), "user.role", f"user:{username}", {"role": user.role})
                        flash(f"{username} is now {user.role}.", "ok")
                elif op == "unlock":
                    user.locked_until = None
                    user.failed_logins = 0
                    forget_failures(s, user.username)
                    repo.audit(s, actor(), "user.unlock", f"user:{username}")
                    flash(f"{username} unlocked.", "ok")
                elif op == "password":
                    password = request.form.get("password", "")
                    if len(password) < 8:
                        flash("Password must be at least 8 characters.", "error")
                    else:
                        user.password_hash = hash_password(password)
                        end_sessions(s, user)  # every other session of theirs ends
                        repo.audit(s, actor(), "user.password", f"user:{username}")
                        flash(f"Password of {username} changed.", "ok")
                else:
                    abort(400)
        return redirect(url_for("auth.users"))
    with store().session() as s:
        rows = list(s.scalars(select(AdminUser).order_by(AdminUser.username)))
    return render_template("users.html", users=rows, roles=ROLES, is_locked=is_locked)


@bp.route("/audit")
def audit_log():  # noqa: ANN201
    target = db_text(request.args.get("target") or "") or None
    with store().session() as s:
        rows = repo.list_audit(s, target=target, limit=300)
    return render_template("audit.html", rows=rows, target=target)
