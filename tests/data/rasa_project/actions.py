"""Custom actions of the Sunrise Auto Repair Rasa assistant (rasa-sdk)."""

from typing import Any, Dict, List, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher


class ValidateServiceForm(FormValidationAction):
    def name(self) -> Text:
        return "validate_service_form"

    def validate_contact_phone(self, slot_value: Any, dispatcher: CollectingDispatcher,
                               tracker: Tracker, domain: Dict) -> Dict[Text, Any]:
        digits = "".join(ch for ch in str(slot_value or "") if ch.isdigit())
        if len(digits) < 10:
            dispatcher.utter_message(text="That number looks too short.")
            return {"contact_phone": None}
        return {"contact_phone": digits}


class ActionBookService(Action):
    def name(self) -> Text:
        return "action_book_service"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
            domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        return [SlotSet("booking_ref", "SR-1042")]
