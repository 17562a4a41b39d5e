"""Replicas and their heartbeats: the sweeper finishes the calls of a dead replica.

``replicas``: one row per phone-server process (a gunicorn worker), its last heartbeat and
whether it drains; ``replica_calls``: which replica holds each call's Media Stream.  An open
call whose replica stopped beating is finished as ``replica_lost`` (callflows/store/sweeper.py).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('replicas',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('draining', sa.Boolean(), nullable=False),
    sa.Column('stopped_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_replicas'))
    )
    op.create_index(op.f('ix_replicas_heartbeat_at'), 'replicas', ['heartbeat_at'], unique=False)
    op.create_table('replica_calls',
    sa.Column('call_id', sa.String(length=36), nullable=False),
    sa.Column('replica_id', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_replica_calls_call_id_calls'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['replica_id'], ['replicas.id'], name=op.f('fk_replica_calls_replica_id_replicas'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('call_id', name=op.f('pk_replica_calls'))
    )
    op.create_index(op.f('ix_replica_calls_replica_id'), 'replica_calls', ['replica_id'], unique=False)


def downgrade() -> None:
    op.drop_table('replica_calls')
    op.drop_table('replicas')
