"""The LLM runtime: llama.cpp in process (the real SmolLM2-135M from the manifest) and an
OpenAI-compatible HTTP backend against local stand-in servers (normal, hung, garbage, trickling)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from callflows.llm import LLM, Completion, LLMError, LLMTimeout, OpenAICompatLLM
from callflows.llm import registry as llm_registry

INTENT_SCHEMA = {
    "type": "object",
    "properties": {
        "intent": {"type": "string", "enum": ["book", "cancel", "other"]},
        "confidence": {"type": "number"},
    },
    "required": ["intent", "confidence"],
    "additionalProperties": False,
}
CHAT = [
    {"role": "system", "content": "You are a helpful receptionist. Answer briefly."},
    {"role": "user", "content": "Hello, can I book a cleaning?"},
]


# ----------------------------------------------------------------------------- llama.cpp (real model)
@pytest.fixture(scope="module")
def tiny_model_path():
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (scripts/install.sh llama)")
    from callflows.models import Manifest

    return Manifest.load().resolve("llm_tiny", install=True)


@pytest.fixture(scope="module")
def llama(tiny_model_path):
    from callflows.llm import LlamaCppLLM

    llm = LlamaCppLLM(tiny_model_path, n_ctx=1024, n_threads=2, pool_size=2)
    yield llm
    llm.close()


def test_llamacpp_completes_a_chat(llama) -> None:
    assert isinstance(llama, LLM)
    c = llama.complete(CHAT, max_tokens=24)
    assert isinstance(c, Completion)
    assert c.text.strip()
    assert c.prompt_tokens > 10 and 0 < c.completion_tokens <= 24 and c.seconds > 0
    assert c.finish_reason in ("stop", "length")


def test_llamacpp_streams_deltas(llama) -> None:
    stream = llama.stream(CHAT, max_tokens=24)
    deltas = list(stream)
    assert len(deltas) >= 2 and all(isinstance(d, str) for d in deltas)
    assert "".join(deltas).strip()
    assert stream.completion is not None and stream.completion.completion_tokens == len(deltas)


def test_llamacpp_json_schema_output_is_valid(llama) -> None:
    messages = [
        {"role": "system", "content": "Classify the caller's intent as book, cancel or other. Reply in JSON."},
        {"role": "user", "content": "i need to cancel my appointment on friday"},
    ]
    c = llama.complete(messages, max_tokens=64, json_schema=INTENT_SCHEMA)
    data = json.loads(c.text)
    assert set(data) == {"intent", "confidence"}
    assert data["intent"] in ("book", "cancel", "other")
    assert isinstance(data["confidence"], (int, float))


def test_llamacpp_gbnf_grammar(llama) -> None:
    messages = [{"role": "user", "content": "Is Tuesday at three okay? Answer yes or no."}]
    c = llama.complete(messages, max_tokens=8, grammar='root ::= "yes" | "no"')
    assert c.text in ("yes", "no")


def test_llamacpp_pool_serves_two_threads(llama) -> None:
    results: list[Any] = []

    def ask(i: int) -> None:
        try:
            results.append(llama.complete([{"role": "user", "content": f"Count to {i + 3}."}], max_tokens=12))
        except Exception as exc:  # noqa: BLE001
            results.append(exc)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 2 and all(isinstance(r, Completion) and r.text for r in results), results


def test_llamacpp_timeout_aborts_and_the_context_recovers(llama) -> None:
    long_prompt = [{"role": "user", "content": "Write a long story about a dentist. " * 40}]
    started = time.monotonic()
    with pytest.raises(LLMTimeout):
        llama.complete(long_prompt, max_tokens=400, timeout_s=0.2)
    assert time.monotonic() - started < 1.0
    # the aborted context goes back to the pool and answers the next call normally
    for _ in range(3):  # more calls than contexts: every context is used again
        assert llama.complete(CHAT, max_tokens=8, timeout_s=30).text


def test_llamacpp_stream_stopped_early_frees_the_context(llama) -> None:
    stream = llama.stream([{"role": "user", "content": "List twenty fruits."}], max_tokens=200)
    first = [next(stream), next(stream)]
    stream.close()
    assert all(first)
    for _ in range(3):
        assert llama.complete(CHAT, max_tokens=8, timeout_s=30).text


def test_registry_loads_each_model_once(tiny_model_path, monkeypatch: pytest.MonkeyPatch) -> None:
    llm_registry.clear()
    monkeypatch.setenv("CALLFLOWS_MODEL_LLM_TINY", str(tiny_model_path))
    monkeypatch.setenv("CALLFLOWS_MODEL_LLM_TINY2", str(tiny_model_path))
    monkeypatch.setenv("CALLFLOWS_LLM_THREADS", "1")
    monkeypatch.setenv("CALLFLOWS_LLM_CTX", "512")
    try:
        got: list[Any] = []
        threads = [threading.Thread(target=lambda: got.append(llm_registry.get_llm("tiny"))) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert len(got) == 3 and got[0] is got[1] is got[2]
        assert llm_registry.get_llm("llm_tiny") is got[0]
        assert llm_registry.get_llm("tiny2") is got[0]  # same file, same settings: shared
        assert got[0].n_threads == 1 and got[0].n_ctx == 512
        monkeypatch.setenv("CALLFLOWS_LLM_REMOTE_URL", "http://127.0.0.1:9/v1")
        monkeypatch.setenv("CALLFLOWS_LLM_REMOTE_MODEL", "qwen-7b")
        remote = llm_registry.get_llm("remote")
        assert isinstance(remote, OpenAICompatLLM) and remote.model == "qwen-7b"
        with pytest.raises(LLMError):
            llm_registry.get_llm("nothing_configured")
    finally:
        llm_registry.clear()


# ----------------------------------------------------------------------------- OpenAI-compatible HTTP
class _StandIn(BaseHTTPRequestHandler):
    """Speaks /v1/chat/completions; behaviour chosen by the request's "model"."""

    protocol_version = "HTTP/1.1"
    requests: list[dict] = []
    release = threading.Event()

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802
        if self.path != "/v1/chat/completions":
            self._send(404, b'{"error": "not found"}')
            return
        req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        req["_auth"] = self.headers.get("Authorization")
        type(self).requests.append(req)
        model = req["model"]
        words = ["Sure", ",", " Tuesday", " at", " three", "."]
        if model == "hang":
            type(self).release.wait(20)
            return
        if model == "garbage":
            self._send(200, b"<html>this is not JSON</html>", "text/html")
            return
        if model == "broken":
            self._send(500, b'{"error": {"message": "model crashed"}}')
            return
        if model == "llama-cpp-python" and (req.get("response_format") or {}).get("type") == "json_schema":
            # what python -m llama_cpp.server 0.3.36 answers: only "text" and "json_object" are known
            message = ("1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
                       "'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema'}")
            self._send(500, json.dumps({"error": {"message": message, "type": "internal_server_error"}}).encode())
            return
        if not req.get("stream"):
            text = json.dumps({"intent": "book", "confidence": 0.9}) if req.get("response_format") else "".join(words)
            body = {"id": "x", "object": "chat.completion", "model": model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 21, "completion_tokens": 6, "total_tokens": 27}}
            self._send(200, json.dumps(body).encode())
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()

        def event(data: str) -> None:
            self.wfile.write(f"data: {data}\n\n".encode())
            self.wfile.flush()

        if model == "garbage-stream":
            event("{not json")
            return
        self.wfile.write(b": keep-alive\n\n")
        event(json.dumps({"choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]}))
        for i, w in enumerate(words * (100 if model == "trickle" else 1)):
            if model == "trickle":
                time.sleep(0.2)
            event(json.dumps({"choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}]}))
            if type(self).release.is_set() and model == "trickle":
                return
        event(json.dumps({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
        event(json.dumps({"choices": [], "usage": {"prompt_tokens": 21, "completion_tokens": 6}}))
        event("[DONE]")
        self.close_connection = True


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    _StandIn.release = threading.Event()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _StandIn)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    _StandIn.release.set()
    httpd.shutdown()
    httpd.server_close()


def test_openai_complete(server: str) -> None:
    llm = OpenAICompatLLM(server + "/v1", "qwen", api_key="sk-test")
    assert isinstance(llm, LLM)
    c = llm.complete(CHAT, max_tokens=32, stop=["\n"])
    assert c.text == "Sure, Tuesday at three." and c.prompt_tokens == 21 and c.completion_tokens == 6
    req = _StandIn.requests[-1]
    assert req["messages"] == CHAT and req["max_tokens"] == 32 and req["stop"] == ["\n"] and not req["stream"]
    assert req["_auth"] == "Bearer sk-test"


def test_openai_json_schema_falls_back_to_json_object_for_llama_cpp_python(server: str) -> None:
    llm = OpenAICompatLLM(server, "llama-cpp-python")
    before = len(_StandIn.requests)
    c = llm.complete(CHAT, json_schema=INTENT_SCHEMA)
    assert json.loads(c.text)["intent"] == "book"
    first, second = _StandIn.requests[before:]
    assert first["response_format"]["type"] == "json_schema"
    assert second["response_format"] == {"type": "json_object", "schema": INTENT_SCHEMA}
    # later requests of the same client go in the accepted form at once, streamed ones too
    assert "".join(llm.stream(CHAT, json_schema=INTENT_SCHEMA, timeout_s=5))
    assert len(_StandIn.requests) == before + 3
    assert _StandIn.requests[-1]["response_format"]["type"] == "json_object"
    # a refusal that is not about the response format is an error, not retried
    with pytest.raises(LLMError, match="HTTP 500"):
        OpenAICompatLLM(server, "broken").complete(CHAT, json_schema=INTENT_SCHEMA, timeout_s=5)


def test_openai_json_schema_is_sent_as_response_format(server: str) -> None:
    c = OpenAICompatLLM(server, "qwen").complete(CHAT, json_schema=INTENT_SCHEMA)
    assert json.loads(c.text)["intent"] == "book"
    fmt = _StandIn.requests[-1]["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["schema"] == INTENT_SCHEMA


def test_openai_streams_sse_deltas(server: str) -> None:
    stream = OpenAICompatLLM(server, "qwen").stream(CHAT, timeout_s=5)
    assert list(stream) == ["Sure", ",", " Tuesday", " at", " three", "."]
    assert stream.completion is not None and stream.completion.completion_tokens == 6
    assert stream.completion.finish_reason == "stop"
    assert _StandIn.requests[-1]["stream"] is True


def test_openai_hung_server_times_out(server: str) -> None:
    llm = OpenAICompatLLM(server, "hang")
    started = time.monotonic()
    with pytest.raises(LLMTimeout):
        llm.complete(CHAT, timeout_s=0.5)
    assert time.monotonic() - started < 1.5
    started = time.monotonic()
    with pytest.raises(LLMTimeout):
        list(llm.stream(CHAT, timeout_s=0.5))
    assert time.monotonic() - started < 1.5


def test_openai_trickling_stream_is_cut_at_the_timeout(server: str) -> None:
    started = time.monotonic()
    got: list[str] = []
    with pytest.raises(LLMTimeout):
        for delta in OpenAICompatLLM(server, "trickle").stream(CHAT, timeout_s=1.0):
            got.append(delta)
    assert got and time.monotonic() - started < 2.0


def test_openai_garbage_and_errors_are_llm_errors(server: str) -> None:
    for model in ("garbage", "broken"):
        with pytest.raises(LLMError) as info:
            OpenAICompatLLM(server, model).complete(CHAT, timeout_s=5)
        assert not isinstance(info.value, LLMTimeout)
    with pytest.raises(LLMError, match="HTTP 500"):
        OpenAICompatLLM(server, "broken").complete(CHAT, timeout_s=5)
    with pytest.raises(LLMError):
        list(OpenAICompatLLM(server, "garbage-stream").stream(CHAT, timeout_s=5))
    with pytest.raises(LLMError):
        list(OpenAICompatLLM(server, "garbage").stream(CHAT, timeout_s=5))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    with pytest.raises(LLMError):
        OpenAICompatLLM(f"http://127.0.0.1:{port}", "x").complete(CHAT, timeout_s=5)
