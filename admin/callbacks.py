"""Callback requests: callers a warm transfer could not connect asked to be called back.

Everyone logged in sees the list (numbers masked); editors and admins see the number to dial
and mark a request done (audited).  Why masked for viewers: the number is personal data and
a viewer has no call to make.  The rows come from ``callflows.store.transfers``.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from admin.security import require_role
from admin.views import actor, can, store
from callflows.privacy import mask_value
from callflows.store import repo
from callflows.store import transfers as tx

bp = Blueprint("callbacks", __name__, url_prefix="/callbacks")

STATUSES = ("open", "done")


def shown_number(number: str) -> str:
    """The number as this user may see it."""
    return number if can("editor") else mask_value("phone_number", number)


@bp.route("/")
def index():  # noqa: ANN201
    status = request.args.get("status", "open")
    if status not in (*STATUSES, "all"):
        flash(f"Unknown status {status[:20]!r}: showing the open requests.", "error")
        status = "open"
    with store().session() as s:
        rows = tx.callback_requests(s, status=None if status == "all" else status)
        for row in rows:
            s.expunge(row)
    return render_template("callbacks.html", rows=rows, status=status, shown_number=shown_number)


@bp.route("/<int:request_id>/done", methods=["POST"])
@require_role("editor")
def done(request_id: int):  # noqa: ANN201
    with store().session() as s:
        row = tx.mark_callback_done(s, request_id, actor())
        if row is None:
            abort(404)
        repo.audit(s, actor(), "callback.done", f"call:{row.call_id}", {"callback_request": request_id})
    flash("Marked as called back.", "ok")
    return redirect(url_for("callbacks.index"))
