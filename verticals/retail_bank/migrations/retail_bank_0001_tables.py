"""The bank's tables: accounts, account transactions and cards (with freezing).

The first revision of the retail_bank branch. A database made before verticals became
plugins already has these tables (the core's revision 0003 made them): they are adopted as
they are, rows kept.

Revision ID: retail_bank_0001
Revises:
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from callflows.store.adopt import has_table

revision: str = 'retail_bank_0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = ('retail_bank',)
depends_on: str | Sequence[str] | None = None  # its own version table: it runs after the core's branch


def upgrade() -> None:
    if not has_table('accounts'):
        op.create_table('accounts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('customer_id', sa.Integer(), nullable=False),
        sa.Column('vertical', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('number_last4', sa.String(length=4), nullable=False),
        sa.Column('balance_cents', sa.BigInteger(), server_default='0', nullable=False),
        sa.Column('currency', sa.String(length=3), server_default='USD', nullable=False),
        sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_accounts_customer_id_customers'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_accounts')),
        sa.UniqueConstraint('customer_id', 'number_last4', name=op.f('uq_accounts_customer_id_number_last4'))
        )
        op.create_index(op.f('ix_accounts_customer_id'), 'accounts', ['customer_id'], unique=False)
        op.create_index(op.f('ix_accounts_vertical'), 'accounts', ['vertical'], unique=False)
    if not has_table('account_transactions'):
        op.create_table('account_transactions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('posted_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('description', sa.String(length=200), nullable=False),
        sa.Column('amount_cents', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_account_transactions_account_id_accounts'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_account_transactions'))
        )
        op.create_index('ix_account_transactions_account_posted', 'account_transactions', ['account_id', 'posted_at'], unique=False)
    if not has_table('cards'):
        op.create_table('cards',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('customer_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), server_default='debit', nullable=False),
        sa.Column('last4', sa.String(length=4), nullable=False),
        sa.Column('status', sa.String(length=16), server_default='active', nullable=False),
        sa.Column('frozen_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('frozen_call_id', sa.String(length=36), nullable=True),
        sa.CheckConstraint("status IN ('active', 'frozen')", name=op.f('ck_cards_status')),
        sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_cards_customer_id_customers'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_cards')),
        sa.UniqueConstraint('customer_id', 'last4', name=op.f('uq_cards_customer_id_last4'))
        )
        op.create_index(op.f('ix_cards_customer_id'), 'cards', ['customer_id'], unique=False)


def downgrade() -> None:
    op.drop_table('cards')
    op.drop_table('account_transactions')
    op.drop_table('accounts')
