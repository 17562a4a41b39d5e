"""Custom actions and form validators with the rasa-sdk interface, run in process or remotely."""

from callflows.actions.runner import ActionResult, ActionRunner, InProcessRunner, RemoteRunner, make_runner
from callflows.actions.signals import signal

__all__ = ["ActionResult", "ActionRunner", "InProcessRunner", "RemoteRunner", "make_runner", "signal"]
