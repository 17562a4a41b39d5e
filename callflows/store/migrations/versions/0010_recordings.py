"""Call recordings and recording consent.

``recording_consents``: the caller's answer to the recording sentence (given, implied, refused)
and how it was given; ``call_recordings``: one encrypted two-channel file per recorded call,
its expiry (the vertical's retention) and the redacted spans (where and why, never what).
Tables beside ``calls`` (callflows/store/recordings.py), so the ``Call`` model is untouched.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table('recording_consents',
    sa.Column('call_id', sa.String(length=36), nullable=False),
    sa.Column('answer', sa.String(length=16), nullable=False),
    sa.Column('via', sa.String(length=16), nullable=False),
    sa.Column('asked_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_recording_consents_call_id_calls'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('call_id', name=op.f('pk_recording_consents'))
    )
    op.create_table('call_recordings',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('call_id', sa.String(length=36), nullable=False),
    sa.Column('vertical', sa.String(length=64), nullable=False),
    sa.Column('file_name', sa.String(length=200), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('duration_ms', sa.Integer(), nullable=False),
    sa.Column('redactions', JSON_TYPE, nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_call_recordings_call_id_calls'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_call_recordings')),
    sa.UniqueConstraint('call_id', name=op.f('uq_call_recordings_call_id'))
    )
    op.create_index(op.f('ix_call_recordings_vertical'), 'call_recordings', ['vertical'], unique=False)
    op.create_index(op.f('ix_call_recordings_expires_at'), 'call_recordings', ['expires_at'], unique=False)


def downgrade() -> None:
    op.drop_table('call_recordings')
    op.drop_table('recording_consents')
