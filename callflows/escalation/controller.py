"""One call's escalation: signals each turn, the decision at each checkpoint, the LLM agent
once the call is routed to it, the budget, and what is stored (escalation_decisions rows)."""

from __future__ import annotations

from typing import Any

from callflows.escalation.agent import EscalationAgent
from callflows.escalation.budget import BudgetKeeper
from callflows.escalation.host import CallHost
from callflows.escalation.lookups import LookupCache, resolve_function
from callflows.escalation.rules import Context, decide
from callflows.escalation.signals import SignalTracker
from callflows.escalation.spec import RANK, Decision, EscalationSpec, Lookup
from callflows.logs import call_logger


class EscalationController:
    def __init__(self, spec: EscalationSpec, session: CallHost, llm: Any = None):
        self.spec = spec
        self.session = session
        self.log = call_logger(__name__, session.call_id)
        self.route = "stay"
        self.decision = Decision()  # the strongest decision so far
        self.signals = SignalTracker(spec.signals, session.flow.settings.confidence_threshold)
        self.lookups = LookupCache(spec.lookups, self.log)
        store = session.store
        day = None
        if store is not None:
            from callflows.escalation.store import usage_since

            vertical = session.flow.vertical

            def day(since):  # type: ignore[no-untyped-def]
                with store.session() as s:
                    return usage_since(s, since, vertical)
        self.budget = BudgetKeeper(spec.budget, day)
        self._llm = llm
        self._llm_missing: str | None = None  # why the LLM cannot be built (not installed), once known
        self.agent = EscalationAgent(spec, session, self._get_llm, self.budget, self.log)
        self._turn_text = ""

    def _get_llm(self) -> Any:
        if self._llm is None:
            from callflows.llm import get_llm

            self._llm = get_llm(self.spec.llm.role)
        return self._llm

    def _llm_ready(self) -> bool:
        """Whether the LLM route can be taken at all: a model that is not installed or not
        configured is a set-up fact, not a failure of this call, so the small model goes on (it
        re-asks and offers a person itself) instead of handing every such call to a person.
        A configured LLM that fails mid-call still degrades to a person (agent.py)."""
        if self._llm is not None:
            return True
        if self._llm_missing is None:
            from callflows.llm.base import LLMError

            try:
                self._get_llm()
                return True
            except LLMError as exc:
                self._llm_missing = str(exc) or type(exc).__name__
                self.log.warning("LLM route unavailable, staying with the small model: %s", self._llm_missing)
        return False

    # ------------------------------------------------------------------ checkpoints
    def before_turn(self, nlu: Any, source: str, asks_person: bool) -> Decision:
        """A caller turn, before the small model's policy answers it."""
        state = self.session.state
        self.signals.observe(nlu, source, state.misses, asks_person,
                             answering=bool(state.active_form and state.requested))
        self._turn_text = str(getattr(nlu, "text", "") or "")
        return self._decide()

    def before_action(self, form_intent: str | None) -> Decision:
        """A form's action is about to run (the slots it needs are filled, verification done)."""
        return self._decide(extra_intent=form_intent)

    def _decide(self, extra_intent: str | None = None) -> Decision:
        s = self.session
        intents = set(s.goal_intents())
        if extra_intent:
            intents.add(extra_intent)
        ctx = Context(intents=intents, slots=dict(s.state.slots), facts=self.lookups.facts(
            s.state.slots, self._run_function, self._run_action), signals=self.signals.signals, text=self._turn_text)
        decision = decide(self.spec, ctx)
        if decision.route == "llm" and not self._llm_ready():
            return Decision()  # nothing new: see _llm_ready
        if decision.route == "llm":
            spent = self.budget.exceeded()
            if spent:
                decision = Decision("person", decision.reasons + [spent], decision.rules + ["budget"])
        if RANK[decision.route] > RANK[self.route]:
            self.route = decision.route
            self.decision = decision
            self.agent.reasons = list(decision.reasons)
            self.log.info("route %s: %s", decision.route, ", ".join(decision.rules))
            return decision
        return Decision()  # nothing new

    def _run_function(self, lookup: Lookup) -> dict[str, Any]:
        fn = resolve_function(lookup.function or "", self.session.flow.vertical)
        return fn(self.session.store, dict(self.session.state.slots),
                  {"root": str(self.session.vertical.root), "vertical": self.session.flow.vertical, **lookup.options})

    def _run_action(self, lookup: Lookup) -> dict[str, Any]:
        return self.session.lookup_action(lookup.action or "")

    # ------------------------------------------------------------------ records
    def usage(self) -> dict[str, Any]:
        return self.budget.call.to_json()

    def record(self, turn_seq: int, decision: Decision | None, llm_seconds: float | None = None,
               llm_tokens: int | None = None, route: str | None = None, extra_reasons: list[str] | None = None) -> None:
        d = decision if decision is not None and decision.escalates else None
        reasons = (list(d.reasons) if d else []) + list(extra_reasons or [])
        self.session.recorder.escalation(
            turn_seq, route or (d.route if d else self.route if llm_seconds is not None else "stay"), reasons,
            signals=self.signals.signals.to_json(), llm_seconds=llm_seconds, llm_tokens=llm_tokens)
