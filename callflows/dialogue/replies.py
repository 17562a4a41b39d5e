"""What the bot says back, and the engine's default responses (a flow may override each)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from callflows.speech.expectation import Expectation

DEFAULT_RESPONSES: dict[str, str] = {
    "greet": "Thank you for calling {{ display_name }}. How can I help you today?",
    "help": "You can tell me what you need in a few words, or say 'talk to a person' at any time.",
    "not_caught": "Sorry, I didn't quite catch that.",
    "not_understood": "Sorry, I didn't catch that. Could you say it another way?",
    "offer_human": "I'm having trouble understanding. Would you like me to connect you with a person?",
    "transfer": "Let me connect you with someone who can help. One moment please.",
    "goodbye": "Thank you for calling {{ display_name }}. Goodbye!",
    "anything_else": "Is there anything else I can help you with?",
    "how_can_help": "Sure. What can I help you with?",
    "start_over": "Okay, let's start over. How can I help you?",
    "error_fallback": "I'm sorry, something went wrong on my side. Let me connect you with someone who can help.",
    "faq_unknown": "I'm not sure about that one. Would you like me to connect you with someone who can answer it?",
    "still_there": "Are you still there?",
    "silence_goodbye": "I haven't heard anything, so I'll end the call now. Please call back any time. Goodbye.",
    "no_transfer": "Okay, let's keep going.",
    "resume": "Now, back to where we were.",
    "hesitation": "No rush.",
    "what_else": "Okay. What else can I help you with?",
    "carry_on": "Sure, let's carry on with that.",
    "menu": "I can help with the things {{ display_name }} handles by phone, or answer a question. What can I do for you?",
    "small_talk_hello": "Hello!",
    "small_talk_how_are_you": "I'm doing well, thank you for asking.",
    "small_talk_presence": "Yes, I'm here.",
    "small_talk_thanks": "You're welcome.",
    "small_talk_robot": "I'm the virtual assistant for {{ display_name }}. "
                        "I can connect you with a person at any time.",
    "offer_again": "Would you like me to connect you with a person?",
    "hold": "Sure, take your time.",
    "hold_check_in": "Take your time.",
    "hold_resume": "Whenever you're ready.",
    "ask_last_name": "Thank you, {{ first_name }}. And your last name, please? You can also spell it.",
    "next_spelling": "Sorry about that. Those keys could also spell another name.",
    "ask_last_name_keys": "Thank you, {{ first_name }}. And your last name, please? To get the spelling right, "
                          "you can type it on your keypad, one key for each letter, then press pound.",
    "name_keys": "Or type your last name on your keypad, one key for each letter, then press pound.",
    "name_keys_on_file": "You can also type your last name on your keypad, one key for each letter, then press pound.",
    "readback_kept": "Thank you. I'll note it that way, and our team will check the spelling with you.",
    "name_check_at_summary": "I'm sorry, names are hard to make out on a phone line, so our team will check "
                             "the spelling of yours with you. Apart from the name, is everything right?",
    "name_noted_at_summary": "Thank you, I've noted that for our team. Apart from the name, is everything right?",
    "stuck_transfer": "I'm sorry this is taking so long. Let me get a colleague to help you finish. One moment please.",
    "offer_keypad_or_human": "I'm sorry, I still don't have that. You can type it on your keypad now, "
                             "or I can connect you with a person. Would you like me to connect you?",
    "time_keys": "You can also type the time on your keypad, four digits on a 24-hour clock: "
                 "for half past two in the afternoon, 1 4 3 0.",
    "date_keys": "You can also type the month and the day on your keypad, four digits, "
                 "for example 0 3 1 5 for March 15, then the pound key.",
    # a summary read again on the phone: yes and no on keys, which the line cannot turn into each other
    "confirm_keys": "You can also press 1 if that's right, or 2 to change something.",
    "as_held": "That's what I have: {{ value }}.",
    "as_held_again": "Yes, {{ value }}, that's what I have, so I'll go ahead.",
    # a number heard short twice: a digit the line drops once, it drops again; keys are never misheard
    "phone_keys": "I heard {{ count }} digits again. Please type the phone number on your keypad, then press the pound key.",
    "phone_length": "I heard {{ count }} digits, but a phone number has {{ length }}. "
                    "Please say it again digit by digit, or type it on your keypad.",
}


@dataclass
class BotReply:
    text: str
    end_call: bool = False
    transfer_to: str | None = None
    expectation: Expectation = field(default_factory=Expectation)
    outcome: str | None = None
    nlu: dict[str, Any] | None = None
    # A streamed reply (the LLM route): sentences arrive one by one, each as soon as it is
    # complete. `text` (and end_call, transfer_to, outcome) are final only once the iterator is
    # exhausted; the session records the bot turn then. The iterator never raises: on an LLM
    # timeout, error or garbage it yields a holding line and sets `transfer_to` before finishing.
    sentences: Iterator[str] | None = None
    # The escalation decision made on this turn, when not `stay`: {"route", "reasons", "rules"}.
    decision: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "end_call": self.end_call,
            "transfer_to": self.transfer_to,
            "expects": self.expectation.slot or ("yes_no" if self.expectation.yes_no else None),
            "outcome": self.outcome,
            **({"route": self.decision["route"], "reasons": self.decision["reasons"]} if self.decision else {}),
        }
