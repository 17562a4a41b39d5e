"""Thinking time: the caller asks for a moment ("hold on", "give me a second", "let me find my
card"; detected by callflows.nlu.hold).

Mixed into DialogueSession. The bot answers "Sure, take your time." and keeps the question
pending (the same expectation, so keypad digits or a spoken answer fill the slot as usual).
While `holding`, the phone layer does not re-prompt on silence; it calls `hold_check` with the
time waited: one gentle check-in after `HOLD_CHECK_IN_S`, and after `HOLD_MAX_S` the pending
question once more, which ends the hold (silence timeouts apply again from then on). Any
caller turn ends the hold.
"""

from __future__ import annotations

from typing import Any

from callflows.dialogue.replies import BotReply
from callflows.nlu.hold import hold_request
from callflows.nlu.pipeline import NluResult

HOLD_CHECK_IN_S = 11.0  # silence on hold before "Take your time."
HOLD_MAX_S = 30.0  # silence on hold before the question is asked again


class Hold:
    """The hold policy of a DialogueSession (see the module docstring)."""

    state: Any
    flow: Any
    recorder: Any
    _say: Any  # DialogueSession's
    _reply: Any
    _secrets: Any

    @property
    def holding(self) -> bool:
        """The caller asked for a moment and has not come back yet."""
        return self.state.holding

    def _hold(self, nlu: NluResult, intent: str | None) -> list[str] | None:
        """"Sure, take your time." when the caller asks to wait; None if the turn says anything
        else. A bare errand ("let me check my balance") gives way to a request the classifier is
        sure of when no question is pending."""
        kind = hold_request(nlu.text)
        if kind is None:
            return None
        st = self.state
        asking = bool(st.pending or (st.active_form and st.requested))
        if kind == "errand" and not asking and intent and self.flow.form_for_intent(intent) is not None:
            return None
        st.holding, st.hold_checked_in = True, False
        return [self._say("hold")]

    def hold_check(self, waited_s: float) -> BotReply | None:
        """What to say after `waited_s` of silence on hold, if anything (recorded as a bot turn)."""
        st = self.state
        if not st.holding or st.ended:
            return None
        if waited_s >= HOLD_MAX_S:
            st.holding = False
            parts = [self._say("hold_resume"), st.last_prompt] if st.last_prompt else [self._say("how_can_help")]
        elif waited_s >= HOLD_CHECK_IN_S and not st.hold_checked_in:
            st.hold_checked_in = True
            parts = [self._say("hold_check_in")]
        else:
            return None
        reply = self._reply(*parts)
        self.recorder.bot_turn(reply.text, self._secrets())
        return reply
