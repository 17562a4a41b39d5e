"""Warm transfers and callback requests.

``transfer_attempts``: one row per try at handing a call to a person (the agent leg's Twilio
CallSid, its statuses, and the outcome: accepted, no_answer, busy, declined, failed, timeout,
canceled, caller_hung_up); outcomes are decided by conditional updates so that racing
webhooks agree.  ``callback_requests``: a caller nobody could take left a number and a
preferred time; shown in the admin.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('transfer_attempts',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('call_id', sa.String(length=36), nullable=False),
    sa.Column('mode', sa.String(length=8), nullable=False),
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('caller_sid', sa.String(length=64), nullable=False),
    sa.Column('agent_sid', sa.String(length=64), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('agent_statuses', sa.Text(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('returned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('detail', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_transfer_attempts_call_id_calls'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transfer_attempts'))
    )
    op.create_index(op.f('ix_transfer_attempts_call_id'), 'transfer_attempts', ['call_id'], unique=False)
    op.create_index(op.f('ix_transfer_attempts_caller_sid'), 'transfer_attempts', ['caller_sid'], unique=False)
    op.create_index(op.f('ix_transfer_attempts_agent_sid'), 'transfer_attempts', ['agent_sid'], unique=False)
    op.create_table('callback_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.String(length=36), nullable=False),
    sa.Column('attempt_id', sa.String(length=32), nullable=True),
    sa.Column('vertical', sa.String(length=64), nullable=False),
    sa.Column('phone_number', sa.String(length=32), nullable=False),
    sa.Column('preferred_time', sa.String(length=120), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('done_by', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_callback_requests_call_id_calls'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['attempt_id'], ['transfer_attempts.id'],
                            name=op.f('fk_callback_requests_attempt_id_transfer_attempts'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_callback_requests'))
    )
    op.create_index(op.f('ix_callback_requests_call_id'), 'callback_requests', ['call_id'], unique=False)
    op.create_index(op.f('ix_callback_requests_vertical'), 'callback_requests', ['vertical'], unique=False)
    op.create_index(op.f('ix_callback_requests_created_at'), 'callback_requests', ['created_at'], unique=False)


def downgrade() -> None:
    op.drop_table('callback_requests')
    op.drop_table('transfer_attempts')
