"""Dialogue runtime: one DialogueSession per call, driving the vertical's forms."""

from callflows.dialogue.replies import BotReply
from callflows.dialogue.session import DialogueSession

__all__ = ["BotReply", "DialogueSession"]
