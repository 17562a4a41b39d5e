"""Logging: one logger per module, the call id in every line, personal data masked.

A log destination that fails (a full disk, ``/dev/full``, a file made read-only, a closed
pipe) never touches a call: the ``logging`` module already swallows handler errors, but by
default prints a traceback to stderr for *every* record, which on a phone server (dozens of
lines a second) floods stderr and costs CPU.  :func:`configure_logging` makes each handler
report its first failure once on stderr, then drop records quietly (counted in
``handler.callflows_dropped``), and say once if it recovers.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import Any, MutableMapping

LOG_FILE_ENV = "CALLFLOWS_LOG_FILE"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class CallLogger(logging.LoggerAdapter):
    """Prefixes every message with the call id: `[call=abc123] ...`."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        extra = dict(kwargs.get("extra") or {})
        extra.setdefault("call_id", self.extra.get("call_id") if self.extra else None)
        kwargs["extra"] = extra
        return f"[call={extra['call_id'] or '-'}] {msg}", kwargs


def call_logger(name: str, call_id: str | None) -> CallLogger:
    return CallLogger(logging.getLogger(name), {"call_id": call_id})


def _describe(handler: logging.Handler) -> str:
    target = getattr(handler, "baseFilename", None)
    if target is None:
        stream = getattr(handler, "stream", None)
        target = getattr(stream, "name", None) or type(handler).__name__
    return str(target)


def _stderr(text: str) -> None:
    stream = sys.__stderr__ or sys.stderr
    try:
        stream.write(text)
        stream.flush()
    except Exception:  # noqa: BLE001 - stderr itself may be what is broken: nothing more to do
        pass


def report_errors_once(handler: logging.Handler) -> logging.Handler:
    """Make ``handler`` report its first failure once on stderr, then drop failing records quietly."""
    if getattr(handler, "callflows_once", False):
        return handler
    lock = threading.Lock()
    handler.callflows_once = True  # type: ignore[attr-defined]
    handler.callflows_failing = False  # type: ignore[attr-defined]
    handler.callflows_dropped = 0  # type: ignore[attr-defined]
    handler.callflows_reported = 0  # type: ignore[attr-defined]
    original_emit = handler.emit

    def handle_error(record: logging.LogRecord | None) -> None:
        exc = sys.exc_info()[1]
        with lock:
            handler.callflows_dropped += 1  # type: ignore[attr-defined]
            first = not handler.callflows_failing and handler.callflows_reported == 0  # type: ignore[attr-defined]
            handler.callflows_failing = True  # type: ignore[attr-defined]
            if first:
                handler.callflows_reported += 1  # type: ignore[attr-defined]
        if first:
            _stderr(f"callflows: logging to {_describe(handler)} failed ({type(exc).__name__}: {exc}); "
                    "log records for it are dropped until it works again (calls are not affected)\n")

    def emit(record: logging.LogRecord) -> None:
        before = handler.callflows_dropped  # type: ignore[attr-defined]
        original_emit(record)
        if handler.callflows_failing and handler.callflows_dropped == before:  # type: ignore[attr-defined]
            with lock:
                handler.callflows_failing = False  # type: ignore[attr-defined]
            _stderr(f"callflows: logging to {_describe(handler)} works again "
                    f"({handler.callflows_dropped} record(s) were dropped)\n")  # type: ignore[attr-defined]

    def quiet(method: Any) -> Any:
        """flush/close: a stream that cannot be written must not raise out of them either
        (closing a FileHandler on a full disk raises ENOSPC from the final flush)."""

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except (OSError, ValueError):
                handle_error(None)  # type: ignore[arg-type]
                return None

        return wrapped

    handler.handleError = handle_error  # type: ignore[method-assign]
    handler.emit = emit  # type: ignore[method-assign]
    handler.flush = quiet(handler.flush)  # type: ignore[method-assign]
    handler.close = quiet(handler.close)  # type: ignore[method-assign]
    return handler


def configure_logging(level: str = "INFO", log_file: str | None = None) -> None:
    """Root logging for the CLI and the server, with the personal-data filter on every handler.

    ``log_file`` (default ``$CALLFLOWS_LOG_FILE``) adds a file handler, opened at the first
    record, so a file that cannot be written is reported (once), never a failed start."""
    from callflows.privacy import PiiLogFilter

    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        root.addHandler(handler)
    log_file = log_file or os.environ.get(LOG_FILE_ENV) or None
    if log_file:
        path = os.path.abspath(log_file)
        if not any(getattr(h, "baseFilename", None) == path for h in root.handlers):
            file_handler = logging.FileHandler(path, encoding="utf-8", delay=True)
            file_handler.setFormatter(logging.Formatter(LOG_FORMAT))
            root.addHandler(file_handler)
    for handler in root.handlers:
        if not any(isinstance(f, PiiLogFilter) for f in handler.filters):
            handler.addFilter(PiiLogFilter())
        report_errors_once(handler)
    root.setLevel(level.upper())
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)  # logs every request's headers
    logging.getLogger("piper").setLevel(logging.INFO)  # its DEBUG lines spell each sentence in phonemes (digits too)
