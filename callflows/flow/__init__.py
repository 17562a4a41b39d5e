"""Flow specification: one YAML file per vertical, loaded into typed dataclasses and validated."""

from callflows.flow.errors import FlowError, FlowErrors
from callflows.flow.spec import (
    ConfirmSpec,
    FaqEntry,
    FlowSpec,
    FormSpec,
    FormStep,
    IntentSpec,
    SlotSpec,
)
from callflows.flow.loader import load_flow, load_flow_text

__all__ = [
    "ConfirmSpec",
    "FaqEntry",
    "FlowError",
    "FlowErrors",
    "FlowSpec",
    "FormSpec",
    "FormStep",
    "IntentSpec",
    "SlotSpec",
    "load_flow",
    "load_flow_text",
]
