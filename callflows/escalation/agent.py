"""The LLM in the call: it takes over with the call's context (instructions, the masked
transcript, the slots, verified or not) and answers caller turns, using the vertical's
actions as tools. Its answer streams: each sentence is handed out as soon as it is complete.

`EscalationAgent.respond(text)` is a generator of sentences that never raises: on a timeout,
an LLM error, unreadable output, too many rejected tool calls or a spent budget it yields the
holding line and sets `result.transfer`. What the agent did in the turn is in `result`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Callable

from callflows.escalation import tools as toolkit
from callflows.escalation.budget import BudgetKeeper
from callflows.escalation.host import CallHost
from callflows.escalation.prompt import build_messages
from callflows.escalation.spec import EscalationSpec
from callflows.escalation.streaming import SayExtractor, SentenceSplitter
from callflows.llm.base import LLMError, LLMTimeout


class Garbage(LLMError):
    """The model's answer is not one of the three turn shapes."""


@dataclass
class TurnResult:
    transfer: bool = False
    transfer_reason: str = ""
    ended: bool = False
    seconds: float = 0.0
    tokens: int = 0
    llm_calls: int = 0
    tools_run: list[str] = field(default_factory=list)
    tools_rejected: list[str] = field(default_factory=list)  # "tool: why"
    failure: str | None = None  # timeout / llm_error / garbage / budget / rejected_tools / too_many_steps


class EscalationAgent:
    def __init__(self, spec: EscalationSpec, session: CallHost, llm_factory: Callable[[], Any], budget: BudgetKeeper,
                 log: Any):
        self.spec = spec
        self.session = session
        self._llm_factory = llm_factory
        self._llm: Any = None
        self.budget = budget
        self.log = log
        self.reasons: list[str] = []
        self.caller_texts: list[str] = []  # raw, in memory only: personal tool arguments come from here
        self.schema = toolkit.turn_schema(spec.tools)
        self.result = TurnResult()

    def respond(self, text: str | None, said: str = "") -> Iterator[str]:
        """The LLM's sentences for this caller turn. `said`: what the call already said in this turn
        before the LLM took over ("Thank you, you're verified."), so that it is not said twice."""
        self.result = TurnResult()
        if text:
            self.caller_texts = (self.caller_texts + [text])[-6:]
        try:
            yield from self._turn(said)
        except LLMTimeout:
            self.log.warning("escalation LLM: no answer within %.1f s", self.spec.llm.timeout_s)
            yield from self._hold("timeout")
        except Garbage as exc:
            self.log.warning("escalation LLM: unusable answer (%s)", exc)
            yield from self._hold("garbage")
        except LLMError as exc:
            self.log.warning("escalation LLM failed: %s", type(exc).__name__)
            yield from self._hold("llm_error")
        except Exception:  # noqa: BLE001 - the call must go on: a person takes it
            self.log.exception("escalation agent failed")
            yield from self._hold("agent_error")

    # ------------------------------------------------------------------ one caller turn
    def _turn(self, said: str = "") -> Iterator[str]:
        r = self.result
        extra: list[dict[str, str]] = [{"role": "assistant", "content": json.dumps({"say": said})}] if said else []
        deadline = time.monotonic() + self.spec.llm.timeout_s
        for _ in range(self.spec.llm.max_steps):
            spent = self.budget.exceeded()
            if spent:
                r.transfer_reason = spent
                yield from self._hold("budget")
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LLMTimeout("turn deadline passed")
            if self._llm is None:
                self._llm = self._llm_factory()
            messages = build_messages(self.spec, self.session, self.reasons, extra)
            raw, spoke_all = yield from self._generate(messages, remaining)
            obj = _parse(raw, spoke_all)
            if "say" in obj:
                return  # spoken while it was generated; wait for the caller
            if "transfer" in obj:
                r.transfer, r.transfer_reason = True, str(obj.get("reason") or "the assistant asked for a colleague")[:200]
                yield self.session.say_response("transfer")
                return
            name = str(obj.get("tool"))
            tool = self.spec.tools.get(name)
            extra.append({"role": "assistant", "content": json.dumps(obj)})
            if tool is None:
                r.tools_rejected.append(f"{name}: unknown tool")
                extra.append({"role": "user", "content": f"(system) rejected: there is no tool '{name}'"})
            else:
                values, why = toolkit.validate(tool, obj.get("args"), self.session, self.caller_texts)
                if values is None:
                    r.tools_rejected.append(f"{name}: {why}")
                    self.log.info("tool call %s %s", name, why.split(":")[0])
                    extra.append({"role": "user", "content": f"(system) {why}"})
                else:
                    outcome = toolkit.run(tool, values, self.session)
                    r.tools_run.append(name)
                    self.log.info("tool %s ran", name)
                    for sentence in outcome.spoken:
                        yield sentence
                    if outcome.transferred or outcome.ended:
                        r.transfer, r.ended = outcome.transferred, outcome.ended
                        r.transfer_reason = r.transfer_reason or f"{name} hands the call over"
                        return
                    extra.append({"role": "user", "content": f"(system) {outcome.feedback}"})
                    continue
            if len(r.tools_rejected) > self.spec.llm.max_tool_retries:
                r.transfer_reason = "tool calls rejected"
                yield from self._hold("rejected_tools")
                return
        r.transfer_reason = "no answer after the tool calls"
        yield from self._hold("too_many_steps")

    def _generate(self, messages: list[dict[str, str]], timeout_s: float):
        """Stream one LLM answer; speak the "say" sentences as they complete. Returns
        (raw text, whether the say string was complete)."""
        r = self.result
        extractor, splitter = SayExtractor(), SentenceSplitter()
        raw: list[str] = []
        started = time.monotonic()
        stream = self._llm.stream(messages, max_tokens=self.spec.llm.max_tokens, temperature=0.0,
                                  json_schema=self.schema, timeout_s=timeout_s)
        try:
            for delta in stream:
                raw.append(delta)
                for sentence in splitter.feed(extractor.feed(delta)):
                    yield sentence
                if time.monotonic() - started > timeout_s:
                    raise LLMTimeout("stream too slow")
        finally:
            close = getattr(stream, "close", None)
            if close:
                close()
            seconds = time.monotonic() - started
            completion = getattr(stream, "completion", None)
            tokens = 0
            if completion is not None:
                tokens = max(0, completion.prompt_tokens) + max(0, completion.completion_tokens)
            else:
                tokens = len(raw)
            r.seconds += seconds
            r.tokens += tokens
            r.llm_calls += 1
            self.budget.add(seconds, tokens)
        if extractor.mode == "say":
            if not extractor.closed:
                raise Garbage("the answer was cut off")
            for sentence in splitter.flush():
                yield sentence
        return "".join(raw), extractor.mode == "say" and extractor.closed

    def _hold(self, failure: str) -> Iterator[str]:
        r = self.result
        r.failure = failure
        r.transfer = True
        r.transfer_reason = r.transfer_reason or failure
        yield self.spec.holding_line


def _parse(raw: str, say_closed: bool) -> dict[str, Any]:
    text = raw.strip()
    try:
        obj = json.loads(text)
    except ValueError:
        if say_closed:
            return {"say": ""}  # spoken already; trailing junk after the string
        raise Garbage(f"not JSON ({len(text)} characters)") from None
    if not isinstance(obj, dict):
        raise Garbage("not a JSON object")
    if "say" in obj:
        if not isinstance(obj["say"], str) or not obj["say"].strip():
            raise Garbage("empty say")
        return obj
    if obj.get("transfer") is True:
        return obj
    if isinstance(obj.get("tool"), str):
        return obj
    raise Garbage("none of say / tool / transfer")
