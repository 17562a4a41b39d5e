"""Call recordings in the admin: editors and admins play them, viewers see only that one exists.

Why viewers cannot play: the recording is the caller's voice, personal data in itself even
with the personal values redacted; a viewer's work (dashboards, transcripts that are masked)
does not need it.  The file is decrypted in memory for each request and sent as a WAV
(``Cache-Control: no-store``: no copy in the browser's cache); every playback, and every
attempt a key cannot serve, is written to the audit log with who and which call.
The key (``CALLFLOWS_RECORDING_KEY``) and folder are read once, when the admin starts.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, abort, current_app

from admin.security import require_role
from admin.views import actor, store
from callflows.recordings.vault import RecordingKeyError, RecordingVault
from callflows.store import repo
from callflows.store.recordings import consent_of, recording_of

bp = Blueprint("recordings", __name__, url_prefix="/calls")

EXTENSION_KEY = "callflows_recording_vault"


def install(app: Flask, recordings: RecordingVault) -> None:
    """Keep the vault (from the admin's ``Settings``) on the app."""
    app.extensions[EXTENSION_KEY] = recordings


def vault() -> RecordingVault:
    return current_app.extensions[EXTENSION_KEY]


@bp.route("/<call_id>/recording.wav")
@require_role("editor")
def play(call_id: str) -> Response:
    with store().session() as s:
        rec = recording_of(s, call_id[:64])
    if rec is None or not rec.playable:
        abort(404, description="This call has no recording (not recorded, or deleted after its retention period).")
    try:
        data = vault().read(rec.file_name)
    except FileNotFoundError:
        abort(404, description="The recording's file is missing.")
    except RecordingKeyError as exc:
        with store().session() as s:
            repo.audit(s, actor(), "recording.play_failed", f"call:{rec.call_id}", {"reason": "key"})
        abort(409, description=str(exc))
    with store().session() as s:
        repo.audit(s, actor(), "recording.played", f"call:{rec.call_id}", {"duration_ms": rec.duration_ms})
    response = Response(data, mimetype="audio/wav")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Disposition"] = f'inline; filename="call-{rec.call_id}.wav"'
    return response


def recording_facts(s, call_id: str) -> dict[str, object]:  # noqa: ANN001 - a SQLAlchemy Session
    """What the call page shows: the consent answer and the recording (no contents)."""
    return {"consent": consent_of(s, call_id), "recording": recording_of(s, call_id)}
