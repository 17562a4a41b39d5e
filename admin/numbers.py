"""Phone numbers: which vertical answers each inbound number, and where it transfers."""

from __future__ import annotations

import re

import yaml
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from admin import flowsvc
from admin.security import require_role
from admin.views import actor, db_text, store
from callflows.flow.safe_yaml import safe_load_yaml
from callflows.store import repo
from callflows.store import flow_versions
from callflows.store.models import PhoneNumber
from callflows.verticals import list_verticals

bp = Blueprint("numbers", __name__, url_prefix="/numbers")

_E164 = re.compile(r"^\+?[0-9]{4,15}$")


def _clean(number: str) -> str:
    return re.sub(r"[\s\-().]", "", number or "")


def _flow_transfer(name: str) -> str | None:
    with store().session() as s:  # the published flow (what calls use), else the file
        pub = flow_versions.published(s, name)
        text = pub.yaml_text if pub else None
    if text is None:
        try:
            text = flowsvc.disk_text(name)
        except OSError:
            return None
    try:
        doc = safe_load_yaml(text)
    except yaml.YAMLError:
        return None
    value = doc.get("transfer_number") if isinstance(doc, dict) else None
    return str(value) if value else None


@bp.route("/", methods=["GET"])
def index():  # noqa: ANN201
    with store().session() as s:
        rows = list(s.scalars(select(PhoneNumber).order_by(PhoneNumber.vertical, PhoneNumber.number)))
    verticals = list_verticals()
    defaults = {name: _flow_transfer(name) for name in verticals}
    return render_template("numbers.html", rows=rows, verticals=verticals, defaults=defaults)


@bp.route("/", methods=["POST"])
@require_role("editor")
def save():  # noqa: ANN201
    number = _clean(request.form.get("number", ""))
    vertical = request.form.get("vertical", "")
    transfer = _clean(request.form.get("transfer_number", "")) or None
    problems = []
    if not _E164.match(number):
        problems.append("The number must be digits, optionally with a leading + (e.g. +15550100123).")
    if transfer and not _E164.match(transfer):
        problems.append("The transfer number must be digits, optionally with a leading +.")
    if vertical not in list_verticals():
        problems.append("Choose a vertical.")
    if problems:
        for p in problems:
            flash(p, "error")
        return redirect(url_for("numbers.index"))
    with store().session() as s:
        repo.upsert_phone_number(s, number, vertical, transfer)
        repo.audit(s, actor(), "number.save", f"number:{number}", {"vertical": vertical, "transfer_number": transfer})
    flash(f"{number} answers as {vertical}.", "ok")
    return redirect(url_for("numbers.index"))


@bp.route("/delete", methods=["POST"])
@require_role("editor")
def delete():  # noqa: ANN201
    number = db_text(request.form.get("number", ""))
    with store().session() as s:
        row = s.scalars(select(PhoneNumber).where(PhoneNumber.number == number)).first()
        if row is None:
            abort(404)
        s.delete(row)
        repo.audit(s, actor(), "number.delete", f"number:{number}", {"vertical": row.vertical})
    flash(f"{number} removed.", "ok")
    return redirect(url_for("numbers.index"))
