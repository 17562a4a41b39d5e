"""Test chat: talk to a draft (or any version) of a flow in the browser.

Each chat is a :class:`~callflows.dialogue.session.DialogueSession` on a Vertical built
from the version's text, kept in a bounded server-side dict keyed by a random id (the
oldest is dropped past ``ADMIN_TESTCHAT_MAX_SESSIONS``, idle ones after an hour). Calls
are recorded with ``channel="admin_test"`` in a separate SQLite store by default, so a
test booking never takes a real appointment slot and test calls stay out of the
dashboard; ``ADMIN_TESTCHAT_STORE_URL = "same"`` uses the main store instead.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for

from admin import flowsvc
from admin.security import require_role
from admin.views import db_int, db_text, store
from callflows.dialogue.session import DialogueSession
from callflows.flow.errors import FlowErrors
from callflows.privacy import is_sensitive, mask_text, store_value
from callflows.store import Store, flow_versions
from callflows.verticals import Vertical, VerticalRegistry, list_verticals

bp = Blueprint("testchat", __name__, url_prefix="/testchat")

CHANNEL = "admin_test"
IDLE_SECONDS = 3600
MAX_TURNS = 200
_VERTICALS_MAX = 8
MIN_YEAR, MAX_YEAR = 1900, 2999  # of a test call's time


@dataclass
class TestChat:
    id: str
    owner: str
    vertical: str
    label: str  # "draft v3", "published v2", "file"
    session: DialogueSession
    turns: list[dict[str, Any]] = field(default_factory=list)
    ended: bool = False
    last_used: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)


class TestChats:
    """A bounded, thread-safe dict of test chats (LRU)."""

    def __init__(self, max_sessions: int = 50):
        self.max_sessions = max_sessions
        self._chats: OrderedDict[str, TestChat] = OrderedDict()
        self._lock = threading.Lock()
        self._verticals: OrderedDict[tuple[str, str], Vertical] = OrderedDict()
        self._store: Store | None = None

    def __len__(self) -> int:
        return len(self._chats)

    def add(self, chat: TestChat) -> None:
        with self._lock:
            now = time.monotonic()
            for key in [k for k, c in self._chats.items() if now - c.last_used > IDLE_SECONDS]:
                self._end(self._chats.pop(key))
            self._chats[chat.id] = chat
            while len(self._chats) > self.max_sessions:
                _, old = self._chats.popitem(last=False)
                self._end(old)

    def get(self, chat_id: str) -> TestChat | None:
        with self._lock:
            chat = self._chats.get(chat_id)
            if chat is not None:
                chat.last_used = time.monotonic()
                self._chats.move_to_end(chat_id)
            return chat

    def remove(self, chat_id: str) -> None:
        with self._lock:
            chat = self._chats.pop(chat_id, None)
        if chat is not None:
            self._end(chat)

    @staticmethod
    def _end(chat: TestChat) -> None:
        if not chat.session.state.ended:
            try:
                chat.session.end("admin_test_closed")
            except Exception:  # noqa: BLE001 - closing a test chat never fails a request
                pass

    def vertical(self, name: str, text: str, version: int | None) -> Vertical:
        """A Vertical built from ``text`` (cached by content, a few at most); raises FlowErrors."""
        key = (name, hashlib.sha256(text.encode()).hexdigest())
        with self._lock:
            cached = self._verticals.get(key)
            if cached is not None:
                self._verticals.move_to_end(key)
                return cached
        vertical = VerticalRegistry().load(name, text, version)  # a private registry: not the live cache
        with self._lock:
            self._verticals[key] = vertical
            while len(self._verticals) > _VERTICALS_MAX:
                self._verticals.popitem(last=False)
        return vertical

    def store(self) -> Store:
        """Where test calls are recorded (created and migrated on first use)."""
        with self._lock:
            if self._store is None:
                url = current_app.config.get("ADMIN_TESTCHAT_STORE_URL")
                main: Store = current_app.extensions["callflows_store"]
                if url == "same":
                    self._store = main
                else:
                    if not url:
                        db = main.engine.url.database if main.is_sqlite else None
                        folder = (Path(db).expanduser().resolve().parent if db and db != ":memory:"
                                  else Path.cwd() / "var")
                        url = f"sqlite:///{folder / 'admin-testchat.db'}"
                    test_store = Store(url)
                    test_store.upgrade()
                    self._store = test_store
            return self._store


def chats() -> TestChats:
    return current_app.extensions["callflows_testchats"]


def _version_text(name: str, which: str) -> tuple[str, int | None, str]:
    with store().session() as s:
        if which == "draft":
            draft = flowsvc.open_draft(s, name)
            if draft is not None:
                return draft.yaml_text, draft.version, f"draft v{draft.version}"
            which = "published"
        if which == "published":
            pub = flow_versions.published(s, name)
            if pub is not None:
                return pub.yaml_text, pub.version, f"published v{pub.version}"
            return flowsvc.disk_text(name), None, "flow.yaml on disk"
        if which == "file":
            return flowsvc.disk_text(name), None, "flow.yaml on disk"
        try:
            number = int(which)
        except ValueError:
            abort(400)
        row = flow_versions.get_version(s, name, number) if db_int(number) is not None else None
        if row is None:
            abort(404)
        return row.yaml_text, row.version, f"v{row.version} ({row.status})"


def _pii(session: DialogueSession, name: str, slot_type: str) -> bool | None:
    """True when the flow or the slot's name/type says personal (stricter than the flow alone)."""
    spec = session.flow.slots.get(name)
    return True if (spec is not None and spec.pii) or is_sensitive(name, slot_type) else None


def _secrets(session: DialogueSession, nlu: dict[str, Any] | None) -> list[str]:
    """Personal strings of this turn (as heard, as parsed, and the slots so far), to mask in the
    transcript even when the flow does not mark the slot ``pii``."""
    out: list[str] = []
    for name, values in ((nlu or {}).get("slots") or {}).items():
        spec = session.flow.slots.get(name)
        if _pii(session, name, spec.type if spec else "text"):
            out += [str(v.get(k)) for v in values for k in ("text", "value") if v.get(k)]
    for name, value in session.state.slots.items():
        spec = session.flow.slots[name]
        if value is not None and _pii(session, name, spec.type):
            out.append(str(value))
    return [s for s in out if len(s) >= 2]


def _masked_nlu(session: DialogueSession, nlu: dict[str, Any] | None, masked_text: str) -> dict[str, Any] | None:
    """The NLU result with personal values masked, as the call record keeps them."""
    if not nlu:
        return nlu
    out = dict(nlu)
    out["text"] = masked_text
    slots = {}
    for name, values in (nlu.get("slots") or {}).items():
        spec = session.flow.slots.get(name)
        slot_type = spec.type if spec else "text"
        pii = _pii(session, name, slot_type)
        slots[name] = [{"value": store_value(name, slot_type, v.get("value"), pii),
                        "text": store_value(name, slot_type, v.get("text"), pii) if pii else mask_text(str(v.get("text", "")))}
                       for v in values]
    out["slots"] = slots
    return out


def _slots(session: DialogueSession) -> dict[str, str]:
    shown = {}
    for name, value in session.state.slots.items():
        if value is None:
            continue
        spec = session.flow.slots[name]
        shown[name] = store_value(name, spec.type, value, _pii(session, name, spec.type)) or ""
    return shown


def _own(chat_id: str) -> TestChat:
    chat = chats().get(chat_id)
    if chat is None:
        abort(404, description="This test chat has ended or was dropped (chats are kept for an hour). Start a new one.")
    if chat.owner != g.user.username:
        abort(403, description="This test chat belongs to someone else.")
    return chat


@bp.route("/")
@require_role("editor")
def index():  # noqa: ANN201
    return render_template("testchat/index.html", verticals=list_verticals(),
                           selected=request.args.get("vertical"), which=request.args.get("version", "draft"))


@bp.route("/start", methods=["POST"])
@require_role("editor")
def start():  # noqa: ANN201
    name = request.form.get("vertical", "")
    if name not in list_verticals():
        abort(404)
    text, version, label = _version_text(name, request.form.get("version", "draft"))
    try:
        vertical = chats().vertical(name, text, version)
    except FlowErrors as exc:
        flash(f"The {label} of {name} does not validate ({len(exc.errors)} error(s)); fix it before testing.", "error")
        return redirect(url_for("flows.editor", name=name))
    try:
        now = datetime.fromisoformat(request.form["now"]) if request.form.get("now") else None
        if now is not None and not MIN_YEAR <= now.year <= MAX_YEAR:  # "tomorrow" of 9999-12-31 overflows
            raise ValueError(now.year)
    except ValueError:
        abort(400, description=f"The call time must look like 2026-11-23T09:00, in the years {MIN_YEAR} to "
                               f"{MAX_YEAR}.")
    session = DialogueSession(vertical, chats().store(), now=now, channel=CHANNEL)
    chat = TestChat(id=secrets.token_urlsafe(12), owner=g.user.username, vertical=name, label=label, session=session)
    with chat.lock:
        reply = session.start()
        chat.turns.append({"speaker": "bot", "text": reply.text})
    chats().add(chat)
    return redirect(url_for("testchat.show", chat_id=chat.id))


@bp.route("/<chat_id>")
@require_role("editor")
def show(chat_id: str):  # noqa: ANN201
    chat = _own(chat_id)
    return render_template("testchat/chat.html", chat=chat, slots=_slots(chat.session),
                           expects=chat.session.expectation)


@bp.route("/<chat_id>/say", methods=["POST"])
@require_role("editor")
def say(chat_id: str):  # noqa: ANN201
    chat = _own(chat_id)
    text = db_text(request.form.get("text", "")).strip()[:500]
    source = "dtmf" if request.form.get("dtmf") else "text"
    if text and not chat.ended:
        with chat.lock:
            if len(chat.turns) >= MAX_TURNS:
                abort(409, description="This test chat is too long; start a new one.")
            reply = chat.session.handle_text(text, source=source)
            recorded = [t for t in chat.session.recorder.turns if t["speaker"] == "caller"]
            masked = mask_text(recorded[-1]["text"] if recorded else text, _secrets(chat.session, reply.nlu))
            chat.turns.append({"speaker": "caller", "text": masked, "source": source,
                               "nlu": _masked_nlu(chat.session, reply.nlu, masked),
                               "slots": _slots(chat.session)})
            bot = [t for t in chat.session.recorder.turns if t["speaker"] == "bot"]
            bot_text = mask_text(bot[-1]["text"] if bot else reply.text, _secrets(chat.session, reply.nlu))
            chat.turns.append({"speaker": "bot", "text": bot_text, "transfer_to": reply.transfer_to,
                               "end_call": reply.end_call, "outcome": reply.outcome})
            if reply.end_call or reply.transfer_to:
                chat.ended = True
    return redirect(url_for("testchat.show", chat_id=chat.id) + "#bottom")


@bp.route("/<chat_id>/end", methods=["POST"])
@require_role("editor")
def end(chat_id: str):  # noqa: ANN201
    chat = _own(chat_id)
    chats().remove(chat.id)
    return redirect(url_for("testchat.index", vertical=chat.vertical))
