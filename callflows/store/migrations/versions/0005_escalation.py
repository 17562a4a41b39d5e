"""Escalation: one row per routing decision (and per-turn signals), with LLM usage.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: JSONB on PostgreSQL, JSON (text) on SQLite -- same as callflows.store.types.JSONType.
JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table('escalation_decisions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.String(length=36), nullable=False),
    sa.Column('turn_seq', sa.Integer(), nullable=False),
    sa.Column('route', sa.String(length=16), nullable=False),
    sa.Column('reasons', JSON_TYPE, nullable=False),
    sa.Column('signals', JSON_TYPE, nullable=True),
    sa.Column('llm_seconds', sa.Float(), nullable=True),
    sa.Column('llm_tokens', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_escalation_decisions_call_id_calls'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalation_decisions'))
    )
    op.create_index(op.f('ix_escalation_decisions_call_id'), 'escalation_decisions', ['call_id'], unique=False)
    op.create_index('ix_escalation_decisions_created_at', 'escalation_decisions', ['created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_escalation_decisions_created_at', table_name='escalation_decisions')
    op.drop_index(op.f('ix_escalation_decisions_call_id'), table_name='escalation_decisions')
    op.drop_table('escalation_decisions')
