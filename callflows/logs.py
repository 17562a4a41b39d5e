"""Logging: one logger per module, the call id in every line, personal data masked."""

from __future__ import annotations

import logging
from typing import Any, MutableMapping


class CallLogger(logging.LoggerAdapter):
    """Prefixes every message with the call id: `[call=abc123] ...`."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        extra = dict(kwargs.get("extra") or {})
        extra.setdefault("call_id", self.extra.get("call_id") if self.extra else None)
        kwargs["extra"] = extra
        return f"[call={extra['call_id'] or '-'}] {msg}", kwargs


def call_logger(name: str, call_id: str | None) -> CallLogger:
    return CallLogger(logging.getLogger(name), {"call_id": call_id})


def configure_logging(level: str = "INFO") -> None:
    """Root logging for the CLI and the server, with the personal-data filter on every handler."""
    from callflows.privacy import PiiLogFilter

    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        root.addHandler(handler)
    for handler in root.handlers:
        if not any(isinstance(f, PiiLogFilter) for f in handler.filters):
            handler.addFilter(PiiLogFilter())
    root.setLevel(level.upper())
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)  # logs every request's headers
