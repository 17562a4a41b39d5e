"""Verticals and flows: form editor, raw YAML editor, versions, publish, roll back, diff."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from admin import flowsvc
from admin.security import require_role
from admin.views import actor, db_int, db_text, store
from admin.yamledit import Editable, PathError, flow_editables, knowledge_editables, set_scalar
from callflows.flow.errors import FlowError
from callflows.store import repo
from callflows.store import flow_versions
from callflows.verticals import list_verticals

bp = Blueprint("flows", __name__, url_prefix="/flows")


def _vertical(name: str) -> str:
    if name not in list_verticals():
        abort(404, description=f"No vertical {name!r}.")
    return name


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _attach(editables: list[Editable], errors: list[FlowError]) -> list[FlowError]:
    """Put each error next to its form field (by field name, else by line); returns the rest."""
    rest = []
    for err in errors:
        target = None
        for ed in editables:
            if err.field == ed.field or err.field.startswith(ed.field + ".") or err.field.startswith(ed.field + "["):
                target = ed
                break
        if target is None and err.line:
            target = next((ed for ed in editables if ed.line == err.line), None)
        if target is not None:
            target.errors.append(err.message)
        else:
            rest.append(err)
    return rest


@bp.route("/")
def index():  # noqa: ANN201
    rows = []
    with store().session() as s:
        for name in list_verticals():
            versions = flow_versions.list_versions(s, name)
            pub = next((v for v in versions if v.status == "published"), None)
            draft = flowsvc.open_draft(s, name)
            rows.append({"name": name, "published": pub, "draft": draft, "count": len(versions)})
    return render_template("flows/index.html", rows=rows)


@bp.route("/<name>")
def editor(name: str):  # noqa: ANN201
    _vertical(name)
    with store().session() as s:
        current = flowsvc.editor_text(s, name)
        pub = flow_versions.published(s, name)
    errors = flowsvc.validate(name, current.text)
    flow_eds = flow_editables(current.text)
    knowledge = flowsvc.read_knowledge(name, current.text)
    faq_eds = knowledge_editables(knowledge[1]) if knowledge else []
    rest = _attach(flow_eds, [e for e in errors if flowsvc.is_flow_error(e)])
    rest += _attach(faq_eds, [e for e in errors if not flowsvc.is_flow_error(e)])
    sections: dict[str, list[Editable]] = {}
    for ed in flow_eds + faq_eds:
        sections.setdefault(ed.section, []).append(ed)
    return render_template("flows/editor.html", name=name, current=current, published=pub, errors=errors,
                           other_errors=rest, sections=sections, knowledge_ref=knowledge[0] if knowledge else None,
                           error_count=len(errors))


@bp.route("/<name>/field", methods=["POST"])
@require_role("editor")
def edit_field(name: str):  # noqa: ANN201
    _vertical(name)
    try:
        path = tuple(json.loads(request.form["path"]))
        if not path or not all(isinstance(p, (str, int)) for p in path):
            raise ValueError
    except (KeyError, ValueError, TypeError, RecursionError):  # RecursionError: "[[[[..." nested deep
        abort(400, description="bad field path")
    target = request.form.get("target", "flow")
    value = request.form.get("value", "").replace("\r\n", "\n").strip()
    anchor = "f-" + "-".join(str(p) for p in path).replace(".", "_").replace(" ", "_")
    with store().session() as s:
        current = flowsvc.editor_text(s, name)
        text = current.text
        try:
            if target == "knowledge":
                knowledge = flowsvc.read_knowledge(name, text)
                if knowledge is None:
                    abort(400, description="this flow has no knowledge file")
                ref, ktext = knowledge
                new_ktext = set_scalar(ktext, path, value)
                if new_ktext == ktext:
                    flash("Nothing changed.", "ok")
                    return redirect(url_for("flows.editor", name=name) + "#" + anchor)
                new_ref = flowsvc.write_knowledge(name, new_ktext)
                new_text = set_scalar(text, ("knowledge",), new_ref)
            else:
                new_text = set_scalar(text, path, value)
        except PathError as exc:
            flash(f"That text could not be changed: {exc}", "error")
            return redirect(url_for("flows.editor", name=name))
        if new_text == text and current.source == "draft":
            flash("Nothing changed.", "ok")
            return redirect(url_for("flows.editor", name=name) + "#" + anchor)
        draft, errors = flowsvc.save_draft(s, name, new_text, actor(), detail={"field": ".".join(map(str, path)),
                                                                                "target": target})
    _flash_saved(draft.version, errors)
    return redirect(url_for("flows.editor", name=name) + "#" + anchor)


def _flash_saved(version: int, errors: list[FlowError]) -> None:
    if errors:
        flash(f"Saved as draft version {version}, with {len(errors)} error(s): it cannot be published until "
              "they are fixed.", "error")
    else:
        flash(f"Saved as draft version {version}. It is valid: publish it to use it on calls.", "ok")


@bp.route("/<name>/yaml", methods=["GET", "POST"])
def raw(name: str):  # noqa: ANN201
    _vertical(name)
    status = 200
    if request.method == "POST":
        if not g.user.can("editor"):
            abort(403, description=f"Saving a flow needs the editor role; you are a {g.user.role}.")
        text = request.form.get("yaml", "").replace("\r\n", "\n")
        if "\x00" in text:  # YAML cannot hold it, and PostgreSQL refuses to store it
            abort(400, description="The text contains a NUL character (\\0), which a flow cannot hold. "
                                   "Nothing was saved.")
        base = request.form.get("base", "")
        with store().session() as s:
            current = flowsvc.editor_text(s, name)
            if base and base != _digest(current.text) and text != current.text:
                flash("Someone saved this flow while you were editing it. Your text is below, not saved: "
                      "compare it with the versions page before saving again.", "error")
                return render_template("flows/yaml.html", name=name, text=text, base=_digest(current.text),
                                       current=current, errors=flowsvc.validate(name, text),
                                       error_lines=set(), lines=text.split("\n"), error_count=0), 409
            note = db_text(request.form.get("note") or "") or None
            draft, errors = flowsvc.save_draft(s, name, text, actor(), note=note, detail={"editor": "yaml"})
            current = flowsvc.EditorText(draft.yaml_text, "draft", draft.version)
        _flash_saved(draft.version, errors)
        if not errors:
            return redirect(url_for("flows.raw", name=name))
        status = 422
    else:
        with store().session() as s:
            current = flowsvc.editor_text(s, name)
        errors = flowsvc.validate(name, current.text)
    text = current.text
    error_lines = {e.line for e in errors if e.line and flowsvc.is_flow_error(e)}
    return render_template("flows/yaml.html", name=name, text=text, base=_digest(text), current=current,
                           errors=errors, error_lines=error_lines, lines=text.split("\n"),
                           error_count=len(errors)), status


def _posted_version() -> int:
    """The form's version number: 400 when missing or not a number, 404 when no version has it."""
    version = request.form.get("version", type=int)
    if version is None:
        abort(400)
    if db_int(version) is None:
        abort(404)
    return version


@bp.route("/<name>/publish", methods=["POST"])
@require_role("editor")
def publish(name: str):  # noqa: ANN201
    _vertical(name)
    version = _posted_version()
    with store().session() as s:
        try:
            flowsvc.publish(s, name, version, actor())
        except LookupError:
            abort(404)
        except flowsvc.NotPublishable as exc:
            refused = exc
        else:
            refused = None
    if refused is not None:
        flash(f"Version {version} was not published: it has {len(refused.errors)} error(s). "
              "Fix them in the editor first.", "error")
        return redirect(url_for("flows.versions", name=name))
    flash(f"Version {version} is published: the next call uses it.", "ok")
    return redirect(url_for("flows.versions", name=name))


@bp.route("/<name>/rollback", methods=["POST"])
@require_role("editor")
def rollback(name: str):  # noqa: ANN201
    _vertical(name)
    version = _posted_version()
    with store().session() as s:
        try:
            row = flowsvc.rollback(s, name, version, actor())
        except LookupError:
            abort(404)
        except flowsvc.NotPublishable as exc:
            flash(f"Version {version} no longer validates ({len(exc.errors)} error(s)); not rolled back.", "error")
            return redirect(url_for("flows.versions", name=name))
        new_version = row.version
    flash(f"Rolled back: version {version}'s text is published again as version {new_version}.", "ok")
    return redirect(url_for("flows.versions", name=name))


@bp.route("/<name>/discard", methods=["POST"])
@require_role("editor")
def discard(name: str):  # noqa: ANN201
    _vertical(name)
    with store().session() as s:
        version = flowsvc.discard_draft(s, name, actor())
    flash(f"Draft version {version} discarded." if version else "There was no draft.", "ok")
    return redirect(url_for("flows.versions", name=name))


@bp.route("/<name>/versions")
def versions(name: str):  # noqa: ANN201
    _vertical(name)
    with store().session() as s:
        rows = flow_versions.list_versions(s, name)
        audit = repo.list_audit(s, target=name, limit=100)
    valid = {row.version: not flowsvc.validate(name, row.yaml_text) for row in rows if row.status == "draft"}
    return render_template("flows/versions.html", name=name, rows=rows, audit=audit, valid=valid)


@bp.route("/<name>/versions/<int:version>")
def version(name: str, version: int):  # noqa: ANN201
    _vertical(name)
    with store().session() as s:
        row = flow_versions.get_version(s, name, version) if db_int(version) is not None else None
        if row is None:
            abort(404)
    errors = flowsvc.validate(name, row.yaml_text)
    return render_template("flows/version.html", name=name, row=row, lines=row.yaml_text.split("\n"),
                           errors=errors, error_lines={e.line for e in errors if e.line})


def _text_of(s: Any, name: str, which: str | None) -> tuple[str, str] | None:
    if which in (None, ""):
        return None
    if which == "file":
        return "flow.yaml on disk", flowsvc.disk_text(name)
    try:
        number = int(which)
    except ValueError:
        abort(400)
    row = flow_versions.get_version(s, name, number) if db_int(number) is not None else None
    if row is None:
        abort(404)
    return f"version {row.version} ({row.status})", row.yaml_text


@bp.route("/<name>/diff")
def diff(name: str):  # noqa: ANN201
    _vertical(name)
    with store().session() as s:
        rows = flow_versions.list_versions(s, name)
        pub = next((r for r in rows if r.status == "published"), None)
        draft = flowsvc.open_draft(s, name)
        a_key = request.args.get("a") or (str(pub.version) if pub else "file")
        b_key = request.args.get("b") or (str(draft.version) if draft else a_key)
        a = _text_of(s, name, a_key)
        b = _text_of(s, name, b_key)
    assert a is not None and b is not None
    lines = flowsvc.diff_lines(a[1], b[1], a[0], b[0])
    knowledge_lines: list[tuple[str, str]] = []
    ka, kb = flowsvc.read_knowledge(name, a[1]), flowsvc.read_knowledge(name, b[1])
    if ka and kb and ka[0] != kb[0]:
        knowledge_lines = flowsvc.diff_lines(ka[1], kb[1], f"knowledge of {a[0]}", f"knowledge of {b[0]}")
    return render_template("flows/diff.html", name=name, rows=rows, a_key=a_key, b_key=b_key, a_label=a[0],
                           b_label=b[0], lines=lines, knowledge_lines=knowledge_lines)


__all__ = ["bp"]
