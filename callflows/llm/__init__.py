"""The LLM runtime: one interface (``LLM``), two backends, and a per-role registry.

    from callflows.llm import get_llm
    llm = get_llm("small")                       # in-process llama.cpp, or an OpenAI-compatible server
    c = llm.complete([{"role": "user", "content": "hi"}], max_tokens=32)
    c.text, c.prompt_tokens, c.completion_tokens, c.seconds
    for delta in llm.stream(messages): ...       # text deltas
    llm.complete(messages, json_schema={...})    # constrained JSON (or grammar="<GBNF>")

Failures raise ``LLMError``; no answer in ``timeout_s`` raises ``LLMTimeout`` (a subclass).
The llama.cpp backend is imported lazily (``LlamaCppLLM``), so HTTP-only users need no llama-cpp-python.
"""

from __future__ import annotations

from typing import Any

from .base import LLM, Completion, LLMError, LLMTimeout, TextStream
from .openai_compat import OpenAICompatLLM
from .registry import clear, describe, get_llm, loaded

__all__ = ["LLM", "Completion", "LLMError", "LLMTimeout", "LlamaCppLLM", "OpenAICompatLLM", "TextStream",
           "clear", "describe", "get_llm", "loaded"]


def __getattr__(name: str) -> Any:
    if name == "LlamaCppLLM":
        from .llamacpp import LlamaCppLLM

        return LlamaCppLLM
    raise AttributeError(name)
