"""The bank's escalation lookup (escalation.yaml ``function: bank_customer``).

Registered by name through the vertical's plugin, so the engine never imports this module."""

from __future__ import annotations

from collections.abc import Mapping

from callflows.plugins.spec import Facts, SlotValues
from callflows.store.db import Store

from . import bank


def bank_customer(store: Store, slots: SlotValues, options: Mapping[str, object]) -> Facts:
    """tier, checking_balance, savings_balance, total_balance (dollars) of the verified customer."""
    customer_id = slots.get(str(options.get("slot", "customer_id")))
    if not isinstance(customer_id, int):
        return {}
    with store.session() as s:
        accounts = bank.accounts_of(s, customer_id)
        tier = bank.customer_tier(s, customer_id)
    facts: Facts = {"tier": tier, "total_balance": sum(a.balance_cents for a in accounts) / 100}
    for kind in sorted({a.kind for a in accounts}):
        facts[f"{kind}_balance"] = sum(a.balance_cents for a in accounts if a.kind == kind) / 100
    return facts
