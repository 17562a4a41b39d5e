"""In-process llama.cpp (llama-cpp-python) backend.

A ``Llama`` context is not thread-safe, so ``LlamaCppLLM`` keeps a small pool of them
(``pool_size``, default 1) handed out through a queue: one completion at a time per context,
other callers wait (their wait counts against ``timeout_s``). The chat template comes from the
GGUF (``create_chat_completion``). ``json_schema`` becomes a grammar
(``LlamaGrammar.from_json_schema``), ``grammar`` is GBNF (``LlamaGrammar.from_string``).

Timeouts: with ``timeout_s`` the generation runs on a worker thread; when the time is up the
caller gets ``LLMTimeout`` at once, and the context is told to abort (llama.cpp's abort callback)
before it returns to the pool. The abort is only seen at a later decode step: generation stops
within a token, but a long prompt evaluation can keep the context busy for seconds (measured:
~10 s for a 1,000-token prompt on the 0.5B, 1 thread); other callers wait for the pool meanwhile.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .base import Completion, LLMError, LLMTimeout, TextStream, check_messages

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=64)
def _grammar_from_schema(schema_json: str) -> Any:
    from llama_cpp import LlamaGrammar

    try:
        return LlamaGrammar.from_json_schema(schema_json, verbose=False)
    except Exception as exc:  # noqa: BLE001 - llama-cpp raises plain exceptions for bad schemas
        raise LLMError(f"JSON schema not convertible to a grammar: {exc}") from exc


@functools.lru_cache(maxsize=64)
def _grammar_from_gbnf(gbnf: str) -> Any:
    from llama_cpp import LlamaGrammar

    return LlamaGrammar.from_string(gbnf, verbose=False)


class _Slot:
    """One ``Llama`` context plus its abort switch. ``begin()`` hands out a job token; ``abort(job)``
    only touches the context while that job still holds it (a late abort never hits the next user)."""

    def __init__(self, llama: Any) -> None:
        import llama_cpp

        self.llama = llama
        self._lock = threading.Lock()
        self._job: object | None = None
        self._cb_set = False
        self.aborted = threading.Event()
        self._abort_cb = llama_cpp.ggml_abort_callback(lambda _data: True)
        self._null_cb = llama_cpp.ggml_abort_callback()

    def begin(self) -> object:
        with self._lock:
            self._job = object()
            self.aborted.clear()
            return self._job

    def abort(self, job: object) -> None:
        """Make the running (or next) llama_decode of ``job`` stop; safe from another thread."""
        import llama_cpp

        with self._lock:
            if self._job is not job:
                return
            self.aborted.set()
            try:
                llama_cpp.llama_set_abort_callback(self.llama._ctx.ctx, self._abort_cb, None)
                self._cb_set = True
            except Exception:  # noqa: BLE001 - best effort: the worker also checks `aborted`
                log.debug("could not set the llama.cpp abort callback", exc_info=True)

    def end(self) -> None:
        import llama_cpp

        with self._lock:
            self._job = None
            if self._cb_set:
                try:
                    llama_cpp.llama_set_abort_callback(self.llama._ctx.ctx, self._null_cb, None)
                except Exception:  # noqa: BLE001
                    log.debug("could not clear the llama.cpp abort callback", exc_info=True)
                self._cb_set = False
            if self.aborted.is_set():
                self.llama.reset()  # the KV cache may hold a half-evaluated batch: start clean
                self.aborted.clear()


class LlamaCppLLM:
    """A GGUF chat model run in this process by llama.cpp."""

    def __init__(
        self,
        model_path: str | Path,
        n_ctx: int = 4096,
        n_threads: int = 2,
        pool_size: int = 1,
        *,
        name: str | None = None,
        n_batch: int = 512,
        seed: int = 0,
        verbose: bool = False,
        **llama_kwargs: Any,
    ) -> None:
        try:
            from llama_cpp import Llama
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise LLMError("llama-cpp-python is not installed: run `bash scripts/install.sh llama`") from exc
        path = Path(model_path)
        if not path.is_file():
            raise LLMError(f"model file not found: {path}")
        self.model_path = path
        self.name = name or f"llama.cpp:{path.name}"
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.pool_size = max(1, int(pool_size))
        params = inspect.signature(Llama.__init__).parameters
        kwargs: dict[str, Any] = {
            "n_ctx": n_ctx, "n_threads": n_threads, "n_threads_batch": n_threads, "n_batch": n_batch,
            "seed": seed, "verbose": verbose, **llama_kwargs,
        }
        if "use_extra_bufts" in params:  # the runtime alternative to a no-AMX build (MODELS.md)
            kwargs.setdefault("use_extra_bufts", False)
        self._pool: queue.Queue[_Slot] = queue.Queue()
        started = time.perf_counter()
        try:
            for _ in range(self.pool_size):
                self._pool.put(_Slot(Llama(model_path=str(path), **kwargs)))
        except (ValueError, RuntimeError, OSError) as exc:
            raise LLMError(f"could not load {path}: {exc}") from exc
        log.info("loaded %s (%d context(s), %d threads) in %.2f s", path.name, self.pool_size, n_threads,
                 time.perf_counter() - started)

    # ------------------------------------------------------------------ helpers
    def _acquire(self, deadline: float | None) -> tuple[_Slot, object]:
        try:
            if deadline is None:
                slot = self._pool.get()
            else:
                slot = self._pool.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise LLMTimeout(f"{self.name}: all {self.pool_size} context(s) busy until the timeout") from None
        return slot, slot.begin()

    def _release(self, slot: _Slot) -> None:
        try:
            slot.end()
        finally:
            self._pool.put(slot)

    @staticmethod
    def _kwargs(max_tokens: int, temperature: float, stop: list[str] | None, json_schema: dict | None,
                grammar: str | None) -> dict[str, Any]:
        if json_schema is not None and grammar is not None:
            raise LLMError("give json_schema or grammar, not both")
        kwargs: dict[str, Any] = {"max_tokens": max_tokens, "temperature": temperature, "stop": list(stop or [])}
        if json_schema is not None:
            kwargs["grammar"] = _grammar_from_schema(json.dumps(json_schema, sort_keys=True))
        elif grammar is not None:
            kwargs["grammar"] = _grammar_from_gbnf(grammar)
        return kwargs

    # ------------------------------------------------------------------ complete
    def complete(self, messages: list[dict], *, max_tokens: int = 256, temperature: float = 0.0,
                 stop: list[str] | None = None, json_schema: dict | None = None, grammar: str | None = None,
                 timeout_s: float | None = None) -> Completion:
        check_messages(messages)
        kwargs = self._kwargs(max_tokens, temperature, stop, json_schema, grammar)
        started = time.monotonic()
        deadline = started + timeout_s if timeout_s is not None else None
        slot, job = self._acquire(deadline)

        def run() -> dict:
            if slot.aborted.is_set():
                raise LLMTimeout("aborted before start")
            try:
                return slot.llama.create_chat_completion(messages=messages, stream=False, **kwargs)
            except RuntimeError as exc:
                if slot.aborted.is_set():
                    raise LLMTimeout(f"{self.name}: aborted") from exc
                raise LLMError(f"{self.name}: {exc}") from exc
            except ValueError as exc:  # e.g. the prompt does not fit in n_ctx
                raise LLMError(f"{self.name}: {exc}") from exc

        if deadline is None:
            try:
                result = run()
            finally:
                self._release(slot)
        else:
            box: queue.Queue[tuple[str, Any]] = queue.Queue()

            def worker() -> None:
                try:
                    box.put(("ok", run()))
                except BaseException as exc:  # noqa: BLE001 - handed to the caller
                    box.put(("error", exc))
                finally:
                    self._release(slot)

            threading.Thread(target=worker, name="llm-complete", daemon=True).start()
            try:
                kind, value = box.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                slot.abort(job)
                raise LLMTimeout(f"{self.name}: no answer within {timeout_s:.1f} s") from None
            if kind == "error":
                raise value
            result = value
        choice = result["choices"][0]
        usage = result.get("usage") or {}
        return Completion(
            text=choice["message"].get("content") or "",
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            seconds=time.monotonic() - started,
            finish_reason=choice.get("finish_reason"),
        )

    # ------------------------------------------------------------------ stream
    def stream(self, messages: list[dict], *, max_tokens: int = 256, temperature: float = 0.0,
               stop: list[str] | None = None, json_schema: dict | None = None, grammar: str | None = None,
               timeout_s: float | None = None) -> TextStream:
        """Text deltas as they are generated. ``timeout_s`` bounds the whole stream; stopping the
        iteration early (``close()``, ``break``) stops the generation too."""
        check_messages(messages)
        kwargs = self._kwargs(max_tokens, temperature, stop, json_schema, grammar)
        holder = TextStream(iter(()))
        holder._deltas = self._stream(messages, kwargs, timeout_s, holder)
        return holder

    def _stream(self, messages: list[dict], kwargs: dict[str, Any], timeout_s: float | None,
                holder: TextStream) -> Iterator[str]:
        started = time.monotonic()
        deadline = started + timeout_s if timeout_s is not None else None
        slot, job = self._acquire(deadline)
        box: queue.Queue[tuple[str, Any]] = queue.Queue()
        finish: list[str | None] = [None]

        def worker() -> None:
            try:
                chunks = slot.llama.create_chat_completion(messages=messages, stream=True, **kwargs)
                try:
                    for chunk in chunks:
                        if slot.aborted.is_set():
                            break
                        choice = chunk["choices"][0]
                        text = choice.get("delta", {}).get("content")
                        if text:
                            box.put(("delta", text))
                        if choice.get("finish_reason"):
                            finish[0] = choice["finish_reason"]
                finally:
                    close = getattr(chunks, "close", None)
                    if close:
                        close()
                box.put(("end", None))
            except BaseException as exc:  # noqa: BLE001
                box.put(("error", exc))
            finally:
                self._release(slot)

        threading.Thread(target=worker, name="llm-stream", daemon=True).start()
        parts: list[str] = []
        finished = False
        try:
            while True:
                try:
                    remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                    kind, value = box.get(timeout=remaining)
                except queue.Empty:
                    raise LLMTimeout(f"{self.name}: stream not finished within {timeout_s:.1f} s") from None
                if kind == "delta":
                    parts.append(value)
                    yield value
                elif kind == "end":
                    finished = True
                    break
                else:
                    if isinstance(value, LLMError):
                        raise value
                    raise LLMError(f"{self.name}: {value}") from value
        finally:
            if not finished:
                slot.abort(job)
            holder.completion = Completion("".join(parts), -1, len(parts), time.monotonic() - started, finish[0])

    def close(self) -> None:
        """Free the contexts (the object is unusable afterwards)."""
        while True:
            try:
                slot = self._pool.get_nowait()
            except queue.Empty:
                break
            slot.llama.close()

    def __repr__(self) -> str:
        return f"LlamaCppLLM({str(self.model_path)!r}, n_ctx={self.n_ctx}, n_threads={self.n_threads}, pool_size={self.pool_size})"

