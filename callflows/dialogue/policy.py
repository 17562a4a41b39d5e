"""The dialogue policy for one caller turn, in the order things win: intents that always win
(an emergency goes to a person), small talk and meta-turns, the answer to an offer of a person,
a request to hold, the global handlers (a person, hesitation, goodbye, help, repeat, start over),
the answer to a yes/no question just asked, the form under way, and, with no form yet, a form to
start, a question for the knowledge file, or "not understood" (then a person is offered).

Mixed into DialogueSession. `plan_turn` returns a `Plan` (callflows/dialogue/plan.py): the
replies and whether the call is transferred, ends or goes to the LLM route.
"""

from __future__ import annotations

import re
from typing import Any

from callflows.dialogue.filling import candidates_for_form, yes_no_of
from callflows.dialogue.key_menu import REQUEST, request_menu
from callflows.dialogue.plan import Plan
from callflows.dialogue.state import ANYTHING_ELSE, CHANGE_WHICH, CONFIRM, OFFER_HUMAN, READBACK, DialogueState
from callflows.flow.spec import FlowSpec
from callflows.logs import CallLogger
from callflows.nlu.builtin_intents import has_required_words
from callflows.nlu.hesitation import GOODBYE_CONFIDENCE, explicit_goodbye, hesitation
from callflows.nlu.keywords import keywords_said
from callflows.nlu.pipeline import CLEAR_FAQ_SCORE, FAQ_INTENT, OUT_OF_SCOPE, NluResult
from callflows.nlu.question_shape import asks_a_question
from callflows.nlu.smalltalk import META_TURNS, small_talk
from callflows.nlu.values import parse_yes_no

MAX_HESITATIONS = 2  # hesitations in a row answered gently; then the turn is handled as any other
MAX_DECLINED_OFFERS = 2  # a person declined this often: the next time the call is stuck, it goes to one
# to "would you like me to connect you with a person?": carrying on with the bot is a no
KEEP_GOING = re.compile(r"\b(keep going|carry on|go on|let's continue|continue with you|try again|"
                        r"keep trying|stay with you|with you is fine)\b")


class TurnPolicy:
    """The turn policy of a DialogueSession (see the module docstring)."""

    flow: FlowSpec
    state: DialogueState
    channel: str
    log: CallLogger
    _turn: Plan  # the plan of the turn under way (a checkpoint in a form's completion adds to it)

    def plan_turn(self, nlu: NluResult) -> Plan:
        """The policy's answer to one caller turn."""
        self._turn = plan = Plan()
        plan.replies = self._respond(nlu)
        plan.transfer_to, plan.end = self.state.transferred_to, self.state.ended
        return plan

    def _respond(self, nlu: NluResult) -> list[str]:
        st = self.state
        settings = self.flow.settings
        confident = nlu.confidence >= settings.confidence_threshold
        intent = nlu.intent if confident else None
        ispec = self.flow.intents.get(intent) if intent else None

        # 1. intents that always win: emergencies and the like go to a person (unless the
        #    caller is answering the question asked and only the classifier thought so)
        if ispec is not None and (ispec.transfer or ispec.end_call) and not self._answers_step(nlu, ispec):
            parts = [self._say(ispec.response)] if ispec.response else []
            if ispec.transfer:
                parts.append(self._say("transfer"))
                self._transfer(outcome=f"{ispec.name}_transferred")
            else:
                st.ended = True
            return parts

        # 2. greetings, small talk and meta-turns ("hi", "thank you", "sorry, what?": never a yes or
        #    no, so the offer of a person stays open); then a yes or no to the offer of a person,
        #    before anything it may sound like ("no thanks, let's keep going" is no goodbye)
        chat = small_talk(nlu.text)
        said_again = chat is not None and chat == st.last_small_talk
        st.last_small_talk = chat
        # the same word again, mid-question ("Good day." for "the day", ten times over): an answer
        # lost on the line, handled as one not understood (a re-prompt, then the keypad or a person)
        answer = None if chat is None or (said_again and (st.active_form or st.pending)) else \
            self._small_talk(chat, nlu, intent)
        if answer is not None:
            return answer
        if st.pending == OFFER_HUMAN:
            answered = self._on_offer_human(nlu, intent)
            if answered is not None:
                return answered
        held = self._hold(nlu, intent) if not self._answers_step(nlu, None) else None
        if held is not None:  # "hold on, let me find my card": the question stays pending
            return held

        # 3. global handlers
        has_values = bool(nlu.values)
        if intent == "human" and not self._answers_step(nlu, None):  # "anyone" answers "which dentist?"
            self._transfer(outcome="caller_asked_for_person")
            return [self._say("transfer")]
        hesitating = self._hesitating(nlu)
        if hesitating is not None:
            return hesitating
        if intent == "goodbye" and not has_values and st.pending != CONFIRM and self._says_goodbye(nlu):
            if self._doubt_goodbye(nlu):
                st.goodbye_doubted = True
                return [self._say("not_caught"), st.last_prompt or self._reask(self.flow.forms[st.active_form])]  # type: ignore[index]
            st.ended = True
            return [self._say("goodbye")]
        if intent == "help" and not has_values:
            return [self._say("help"), st.last_prompt] if st.last_prompt else [self._say("help")]
        if intent == "repeat" and not has_values:
            return [st.last_bot_text or self._say("greet")]
        if intent == "start_over" and has_required_words(intent, nlu.text) and not self._answers_step(nlu, None):  # the slot asked wins
            self._reset()
            return [self._say("start_over")]

        # 4. an answer to a yes/no question the bot just asked
        if st.pending == READBACK and st.active_form:
            return self._on_readback(nlu)
        if st.pending == CONFIRM and st.active_form:
            return self._on_confirm(nlu)
        if st.pending == CHANGE_WHICH and st.active_form:
            return self._on_change_which(nlu)
        if st.pending == ANYTHING_ELSE:
            yes = self._yes_no(nlu)
            # "yes, and what about parking": the yes comes with a question for the knowledge file
            asks = self._is_faq(nlu, None)
            nothing_more = not has_values and not asks and (intent in (None, "affirm", "deny", "goodbye"))
            if yes is False and nothing_more:
                st.ended = True
                return [self._say("goodbye")]
            st.pending = None
            if yes and nothing_more:
                return [self._ask_free(self._say("how_can_help"))]
            if asks and intent in (None, "affirm", "deny"):
                return [self._faq_answer(nlu), self._ask_free(self._say("anything_else"), ANYTHING_ELSE)]

        # 5. inside a form
        if st.active_form:
            return self._in_form(nlu, intent)

        # 6. no form yet: start one, answer a question, or say we did not understand
        form = self.flow.form_for_intent(intent) if intent else None
        if form is not None:
            st.key_menus.pop(REQUEST, None)
            return self._start_form(form, nlu)
        # the intent's own answer, unless the knowledge file matches the question outright
        if ispec is not None and ispec.response and not self._is_faq(nlu, intent, strict=True):
            self.state.outcomes.append("intent_answered")
            return [self._say(ispec.response), self._ask_free(self._say("anything_else"), ANYTHING_ELSE)]
        if self._is_faq(nlu, intent) and not self._misheard_statement(nlu, intent):
            return [self._faq_answer(nlu), self._ask_free(self._say("anything_else"), ANYTHING_ELSE)]
        if intent in ("affirm", "deny"):
            return [self._ask_free(self._say("how_can_help"))]
        if intent == OUT_OF_SCOPE or (intent is None and nlu.faq is not None):
            # a request no flow covers (the student says so) or a question with no good FAQ match
            if self.channel == "phone" and st.misses == 0:
                # over the line such a request is most often one misheard ("hi, what's the balance
                # on my account" heard "No, thank."): say what the bot does before offering a person
                st.misses += 1
                return [self._say("not_caught"), self._ask_free(self._with_request_menu(self._say("menu")))]
            return [self._miss(self._say("faq_unknown"), offer=True)]
        return [self._miss(self._with_request_menu(self._say("not_understood")))]

    def _with_request_menu(self, text: str) -> str:
        """On the phone, a request not understood is also offered on keys (key_menu.request_menu)."""
        menu = request_menu(self.flow.intents) if self.channel == "phone" else None
        if menu is None:
            return text
        self.state.key_menus[REQUEST] = menu
        return f"{text} {menu.offer()}"

    def _hesitating(self, nlu: NluResult) -> list[str] | None:
        """"Um, what was it", "hmm": no goodbye and no miss; the question waiting is asked again,
        gently (MAX_HESITATIONS times in a row: then the turn is handled as any other)."""
        if self.state.words_lost or not hesitation(nlu.text) or self._answers_step(nlu, None):
            self._hesitations = 0  # words lost on the line are no hesitation: a turn not understood
            return None
        self._hesitations = getattr(self, "_hesitations", 0) + 1  # in a row
        if self._hesitations > MAX_HESITATIONS:
            return None
        st = self.state
        if (st.pending or (st.active_form and st.requested)) and st.last_prompt:
            return [self._say("hesitation"), st.last_prompt]
        return [self._say("hesitation"), self._ask_free(self._say("how_can_help"))]

    def _doubt_goodbye(self, nlu: NluResult) -> bool:
        """A bare "bye" in the middle of a form on a phone call is asked about once instead of
        ending the call: Whisper makes "Bye bye." of short unclear audio (a caller's "the day",
        answering "what would you like to change?", hung the booking up). A caller who means
        it says it again, or hangs up."""
        st = self.state
        return (self.channel == "phone" and st.active_form is not None and not st.goodbye_doubted
                and len(nlu.text.split()) <= 3)

    @staticmethod
    def _says_goodbye(nlu: NluResult) -> bool:
        """A goodbye ends the call only with a goodbye word or a high confidence, never on a hesitation."""
        if hesitation(nlu.text):
            return False
        return explicit_goodbye(nlu.text) or nlu.confidence >= GOODBYE_CONFIDENCE

    def _answers_step(self, nlu: NluResult, ispec: Any) -> bool:
        """Whether the utterance answers the step being asked (and no keyword of `ispec` was said)."""
        st = self.state
        form = self.flow.forms.get(st.active_form or "")
        step = self._step(form, st.requested) if form else None
        if form is None or step is None or st.pending is not None:
            return False
        if ispec is not None and keywords_said(ispec.keywords, nlu.text):
            return False
        updates = candidates_for_form(self.flow, form, nlu, step.slots)
        return any(slot in updates for slot in step.slots)

    def _on_offer_human(self, nlu: NluResult, intent: str | None) -> list[str] | None:
        """The answer to "shall I connect you with someone?": yes transfers; a plain no goes on
        with the form in progress (its question again) or asks what else the caller needs; None
        when the turn is something else (a no with a request: "no, i want to book") to handle as usual."""
        st = self.state
        yes = self._answer_yes_no(nlu)
        if yes is None and KEEP_GOING.search(nlu.text):  # "let's keep going", the "no" lost on the line
            yes = False
        if yes:
            self._transfer(outcome="offered_person_accepted")
            return [self._say("transfer")]
        st.pending, st.misses = None, 0
        form = self.flow.forms.get(st.active_form or "")
        asks_more = ((intent is not None and self.flow.form_for_intent(intent) is not None)
                     or self._is_faq(nlu, intent, strict=True) or self._answers_step(nlu, None))
        if yes is False and not asks_more:  # a plain no (one that asks something else is not counted)
            st.declined_offers += 1
            if form is not None:
                return [self._say("no_transfer"), self._reask(form)]
            return [self._say("no_transfer"), self._ask_free(self._say("menu"))]  # what it can do, not "what else?"
        return None

    def _small_talk(self, kind: str, nlu: NluResult, intent: str | None) -> list[str] | None:
        """A friendly word back, then the question pending (a form's, "anything else?") or the menu;
        no slot is filled and no miss counted. "Sorry, what?" gets the bot's last words again; "are
        you a robot?" who is speaking and that a person is there for the asking, without putting
        the caller through (one who wants a person says so). None: the turn is handled as usual.
        A greeting gives way to an answer to the slot asked ("hi, today"), the rest (META_TURNS) do
        not: a name step takes "Pardon" or "Cheers" for a name. A bare thanks to "anything else?" that
        the classifier is sure is a goodbye ends the call, as before (in a form it never does)."""
        st = self.state
        if kind not in META_TURNS and self._answers_step(nlu, None):
            return None
        form = self.flow.forms.get(st.active_form or "")
        if kind not in META_TURNS and st.pending == CHANGE_WHICH and form and self._change_target(form, nlu):
            return None  # "Good day." for "the day": it names what to change
        if kind == "repeat":
            return [st.last_bot_text or st.last_prompt or self._say("greet")]
        if kind == "thanks" and st.pending == ANYTHING_ELSE and intent == "goodbye" and self._says_goodbye(nlu):
            return None
        said = self._say(f"small_talk_{kind}")
        if st.pending == OFFER_HUMAN:  # still open: its question, not the form's
            return [said, self._say("offer_again")]
        if st.active_form or st.pending:
            return [said, st.last_prompt or self._say("menu")]
        return [said, self._ask_free(self._say("menu"))]

    def _answer_yes_no(self, nlu: NluResult) -> bool | None:
        """The caller's yes or no to the bot's last question, restating it allowed ("yes cancel it")."""
        if nlu.text and self.state.last_bot_text:
            yes = parse_yes_no(nlu.text, question=self.state.last_bot_text)
            if yes is not None:
                return yes
        return self._yes_no(nlu)

    def _miss(self, text: str, offer: bool = False) -> str:
        st = self.state
        st.misses += 1
        if offer or st.misses > self.flow.settings.max_reprompts:
            return self._offer_person(text if offer else self._say("offer_human"))
        return self._ask_free(text)

    def _offer_person(self, offer: str) -> str:
        """Offer a person (``offer`` asks "would you like me to connect you?"). A caller who has
        said no MAX_DECLINED_OFFERS times and is stuck again is put through instead: asking a
        third time, round and round, helps no one and only ends when the caller hangs up."""
        st = self.state
        if st.declined_offers >= MAX_DECLINED_OFFERS:
            self.log.info("stuck after %d declined offers of a person: transferring", st.declined_offers)
            self._transfer(outcome="stuck_transferred", reason="stuck after declining a person")
            return self._say("stuck_transfer")
        st.pending = OFFER_HUMAN
        return offer

    def _yes_no(self, nlu: NluResult) -> bool | None:
        return yes_no_of(nlu)

    def _is_faq(self, nlu: NluResult, intent: str | None, strict: bool = False) -> bool:
        """A question for the knowledge file. Inside a form (`strict`) the classifier must
        agree, so a stray word shared with an FAQ question does not derail the form."""
        if nlu.faq is None:
            return False
        threshold = self.flow.settings.faq_threshold
        if intent == FAQ_INTENT:
            return nlu.faq.score >= threshold * 0.5
        if strict:
            return nlu.faq.score >= max(0.6, threshold * 1.5)
        return nlu.faq.score >= threshold and intent not in ("affirm", "deny")

    def _misheard_statement(self, nlu: NluResult, intent: str | None) -> bool:
        """On a phone call, words the classifier puts out of scope, shaped as no question and only
        loosely like an FAQ are most often a request the line garbled: a booking's opening heard
        "I'd like to welcome you ... when did I have a well-in-the-after ..." got the opening hours
        (FAQ score 0.63) and the call never got to its booking. They are handled as not understood."""
        assert nlu.faq is not None
        return (self.channel == "phone" and intent == OUT_OF_SCOPE and not asks_a_question(nlu.text)
                and nlu.faq.score < CLEAR_FAQ_SCORE)

    def _faq_answer(self, nlu: NluResult) -> str:
        assert nlu.faq is not None
        self.state.outcomes.append("faq_answered")
        return self._render(nlu.faq.entry.answer)

    def _reset(self) -> None:
        st = self.state
        st.slots = {name: None for name in self.flow.slots}
        st.active_form = st.requested = st.pending = None
        st.misses = 0
        st.completed_forms.clear()  # the slots that said who the caller is are gone too
        self._forget_readback(list(self.flow.slots))
        st.pending_form, st.pending_values = None, {}
        st.history.append({"event": "restart"})
