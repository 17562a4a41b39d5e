"""The bank's tables: accounts, their transactions and cards (with freezing).

Amounts are whole cents; a customer is a row of the core's ``customers`` (vertical
"retail_bank"). Declared on the core's ``Base``; created by this vertical's Alembic branch.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from callflows.store.models import Base
from callflows.store.types import UTCDateTime


class Account(Base):
    """A customer's bank account (checking, savings, ...)."""

    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("customer_id", "number_last4"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    vertical: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    number_last4: Mapped[str] = mapped_column(String(4))
    balance_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    currency: Mapped[str] = mapped_column(String(3), default="USD", server_default="USD")

    transactions: Mapped[list[AccountTransaction]] = relationship(
        back_populates="account", order_by="AccountTransaction.posted_at.desc()",
        cascade="all, delete-orphan", passive_deletes=True,
    )

    def __repr__(self) -> str:  # no account digits in reprs
        return f"<Account id={self.id} {self.kind}>"


class AccountTransaction(Base):
    """One posted movement on an account (negative: money out)."""

    __tablename__ = "account_transactions"
    __table_args__ = (Index("ix_account_transactions_account_posted", "account_id", "posted_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    description: Mapped[str] = mapped_column(String(200))
    amount_cents: Mapped[int] = mapped_column(BigInteger)

    account: Mapped[Account] = relationship(back_populates="transactions")


class Card(Base):
    """A payment card; ``status`` is ``active`` or ``frozen`` (by which call, when)."""

    __tablename__ = "cards"
    __table_args__ = (
        UniqueConstraint("customer_id", "last4"),
        CheckConstraint("status IN ('active', 'frozen')", name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="debit", server_default="debit")
    last4: Mapped[str] = mapped_column(String(4))
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")
    frozen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    frozen_call_id: Mapped[str | None] = mapped_column(String(36))

    def __repr__(self) -> str:
        return f"<Card id={self.id} {self.kind} {self.status}>"


__all__ = ["Account", "AccountTransaction", "Card"]
