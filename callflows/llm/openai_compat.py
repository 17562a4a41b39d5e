"""Any OpenAI-compatible chat server (llama.cpp server, vLLM, ...): ``POST {base_url}/v1/chat/completions``.

Streaming uses server-sent events (``stream: true``, ``data: {...}`` lines, ``data: [DONE]``).
``json_schema`` is sent as ``response_format: {"type": "json_schema", ...}`` (OpenAI, vLLM, llama.cpp's
``llama-server``); a server that refuses that type with an HTTP error naming ``response_format``
(llama-cpp-python's ``python -m llama_cpp.server``, the compose ``llm`` service, accepts only ``text``
and ``json_object``: 0.3.36 answers 500 with the validation error) gets the same request again as ``{"type": "json_object", "schema": ...}``, and
every later request of this client in that form. ``grammar`` (GBNF) is sent as the ``grammar`` field
that llama.cpp's servers read (vLLM: use json_schema instead).

Every failure is an ``LLMError``: refused connection, HTTP error status, a body that is not the
protocol; ``LLMTimeout`` when no complete answer arrives within ``timeout_s`` (the socket
timeout is re-armed with the time left before every read, so a trickling server is cut off too).
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import time
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

from .base import Completion, LLMError, LLMTimeout, TextStream, check_messages


class _StatusError(LLMError):
    """The server answered with an HTTP error status (``detail``: the start of its body)."""

    def __init__(self, message: str, status: int, detail: str) -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail


class OpenAICompatLLM:
    def __init__(self, base_url: str, model: str = "default", api_key: str | None = None, timeout_s: float = 30.0,
                 *, name: str | None = None, extra_body: dict | None = None) -> None:
        parsed = urllib.parse.urlparse(base_url.rstrip("/"))
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise LLMError(f"not an http(s) base URL: {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self._scheme = parsed.scheme
        self._host = parsed.hostname
        self._port = parsed.port
        path = parsed.path.rstrip("/")
        # accept ".../v1" as well as the bare server URL
        self._path = (path if path.endswith("/v1") else path + "/v1") + "/chat/completions"
        self.model = model
        self.api_key = api_key
        self.timeout_s = timeout_s
        self.extra_body = dict(extra_body or {})
        self.name = name or f"openai:{model}@{self.base_url}"
        self.schema_format = "json_schema"  # or "json_object" once the server refused json_schema

    # ------------------------------------------------------------------ http
    def _body(self, messages: list[dict], max_tokens: int, temperature: float, stop: list[str] | None,
              json_schema: dict | None, grammar: str | None, stream: bool) -> bytes:
        if json_schema is not None and grammar is not None:
            raise LLMError("give json_schema or grammar, not both")
        body: dict[str, Any] = {"model": self.model, "messages": check_messages(messages),
                                "max_tokens": max_tokens, "temperature": temperature, "stream": stream}
        if stop:
            body["stop"] = list(stop)
        if json_schema is not None and self.schema_format == "json_object":
            body["response_format"] = {"type": "json_object", "schema": json_schema}
        elif json_schema is not None:
            body["response_format"] = {"type": "json_schema",
                                       "json_schema": {"name": "response", "schema": json_schema, "strict": True}}
        if grammar is not None:
            body["grammar"] = grammar
        if stream:
            body["stream_options"] = {"include_usage": True}
        body.update(self.extra_body)
        return json.dumps(body).encode()

    def _open(self, body: bytes, deadline: float) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise LLMTimeout(f"{self.name}: timed out before sending")
        if self._scheme == "https":
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                self._host, self._port, timeout=remaining, context=ssl.create_default_context())
        else:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=remaining)
        headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        try:
            conn.request("POST", self._path, body=body, headers=headers)
            self._rearm(conn, deadline)
            response = conn.getresponse()
        except (TimeoutError, socket.timeout):
            conn.close()
            raise LLMTimeout(f"{self.name}: no answer within the timeout") from None
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise LLMError(f"{self.name}: {type(exc).__name__}: {exc}") from exc
        if response.status != 200:
            try:
                self._rearm(conn, deadline)
                detail = response.read(600).decode("utf-8", "replace")
            except Exception:  # noqa: BLE001
                detail = ""
            conn.close()
            raise _StatusError(f"{self.name}: HTTP {response.status} {response.reason}: {detail.strip()}",
                               response.status, detail)
        return conn, response

    def _open_body(self, build: Callable[[], bytes], deadline: float,
                   with_schema: bool) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """``_open`` of the body ``build`` makes; once more as ``json_object`` if the server refused
        the ``json_schema`` response format (module docstring)."""
        try:
            return self._open(build(), deadline)
        except _StatusError as exc:
            if not (with_schema and self.schema_format == "json_schema" and exc.status in (400, 422, 500)
                    and "response_format" in exc.detail):
                raise
            self.schema_format = "json_object"
            return self._open(build(), deadline)

    def _rearm(self, conn: http.client.HTTPConnection, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        if conn.sock is not None:
            conn.sock.settimeout(remaining)

    def _deadline(self, timeout_s: float | None) -> float:
        return time.monotonic() + (timeout_s if timeout_s is not None else self.timeout_s)

    # ------------------------------------------------------------------ complete
    def complete(self, messages: list[dict], *, max_tokens: int = 256, temperature: float = 0.0,
                 stop: list[str] | None = None, json_schema: dict | None = None, grammar: str | None = None,
                 timeout_s: float | None = None) -> Completion:
        started = time.monotonic()
        deadline = self._deadline(timeout_s)
        conn, response = self._open_body(
            lambda: self._body(messages, max_tokens, temperature, stop, json_schema, grammar, stream=False), deadline,
            json_schema is not None)
        try:
            chunks = []
            while True:
                self._rearm(conn, deadline)
                block = response.read1(65536) if hasattr(response, "read1") else response.read(65536)
                if not block:
                    break
                chunks.append(block)
            raw = b"".join(chunks)
        except (TimeoutError, socket.timeout):
            raise LLMTimeout(f"{self.name}: answer not complete within the timeout") from None
        except (OSError, http.client.HTTPException) as exc:
            raise LLMError(f"{self.name}: {type(exc).__name__}: {exc}") from exc
        finally:
            conn.close()
        try:
            data = json.loads(raw)
            choice = data["choices"][0]
            text = choice["message"].get("content") or ""
            if not isinstance(text, str):
                raise TypeError("content is not a string")
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise LLMError(f"{self.name}: not a chat completion: {raw[:200]!r}") from exc
        usage = data.get("usage") or {}
        return Completion(
            text=text,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            seconds=time.monotonic() - started,
            finish_reason=choice.get("finish_reason"),
        )

    # ------------------------------------------------------------------ stream
    def stream(self, messages: list[dict], *, max_tokens: int = 256, temperature: float = 0.0,
               stop: list[str] | None = None, json_schema: dict | None = None, grammar: str | None = None,
               timeout_s: float | None = None) -> TextStream:
        """Text deltas from the SSE stream; ``timeout_s`` bounds the whole stream."""
        holder = TextStream(iter(()))
        holder._deltas = self._stream(
            lambda: self._body(messages, max_tokens, temperature, stop, json_schema, grammar, stream=True), timeout_s,
            holder, json_schema is not None)
        return holder

    def _stream(self, build: Callable[[], bytes], timeout_s: float | None, holder: TextStream,
                with_schema: bool) -> Iterator[str]:
        started = time.monotonic()
        deadline = self._deadline(timeout_s)
        conn, response = self._open_body(build, deadline, with_schema)
        parts: list[str] = []
        usage: dict = {}
        finish: str | None = None
        done = False
        try:
            data_lines: list[str] = []
            while True:
                try:
                    self._rearm(conn, deadline)
                    raw = response.readline(1 << 20)
                except (TimeoutError, socket.timeout):
                    raise LLMTimeout(f"{self.name}: stream not finished within the timeout") from None
                except (OSError, http.client.HTTPException) as exc:
                    raise LLMError(f"{self.name}: {type(exc).__name__}: {exc}") from exc
                if not raw:
                    break  # connection closed
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if line.startswith(":"):
                    continue  # SSE comment / keep-alive
                if line.startswith("data:"):
                    data_lines.append(line[5:].lstrip(" "))
                    continue
                if line == "" and data_lines:
                    payload = "\n".join(data_lines)
                    data_lines = []
                    if payload.strip() == "[DONE]":
                        done = True
                        break
                    text, fin, use = self._parse_chunk(payload)
                    usage = use or usage
                    finish = fin or finish
                    if text:
                        parts.append(text)
                        yield text
                elif line and not line.startswith(("event:", "id:", "retry:")):
                    raise LLMError(f"{self.name}: not a server-sent event stream: {line[:200]!r}")
            if not done:
                raise LLMError(f"{self.name}: the stream ended without [DONE]")
        finally:
            conn.close()
            holder.completion = Completion(
                "".join(parts), int(usage.get("prompt_tokens") or -1),
                int(usage.get("completion_tokens") or len(parts)), time.monotonic() - started, finish)

    def _parse_chunk(self, payload: str) -> tuple[str, str | None, dict | None]:
        try:
            data = json.loads(payload)
            if "error" in data and "choices" not in data:
                raise LLMError(f"{self.name}: server error in stream: {str(data['error'])[:300]}")
            choices = data["choices"]
            if not choices:  # the usage-only chunk (stream_options.include_usage)
                return "", None, data.get("usage")
            choice = choices[0]
            text = (choice.get("delta") or {}).get("content") or ""
            if not isinstance(text, str):
                raise TypeError("content is not a string")
            return text, choice.get("finish_reason"), data.get("usage")
        except LLMError:
            raise
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise LLMError(f"{self.name}: not a chat completion chunk: {payload[:200]!r}") from exc

    def __repr__(self) -> str:
        return f"OpenAICompatLLM({self.base_url!r}, model={self.model!r})"
