"""The hotel's tables: reservations (with name_unverified) and room-night holds.

The first revision of the hotel branch. A database made before verticals became plugins
already has these tables (the core's revisions 0004 and 0007 made them): they are adopted as
they are, rows kept, and only a missing column is added.

Revision ID: hotel_0001
Revises:
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from callflows.store.adopt import add_column_if_missing, flag_column, has_table

revision: str = 'hotel_0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = ('hotel',)
depends_on: str | Sequence[str] | None = None  # its own version table: it runs after the core's branch



def upgrade() -> None:
    if not has_table('reservations'):
        op.create_table('reservations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('vertical', sa.String(length=64), nullable=False),
        sa.Column('reference', sa.String(length=16), nullable=False),
        sa.Column('customer_id', sa.Integer(), nullable=False),
        sa.Column('room_type', sa.String(length=32), nullable=False),
        sa.Column('arrival', sa.Date(), nullable=False),
        sa.Column('departure', sa.Date(), nullable=False),
        sa.Column('guests', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=16), server_default='booked', nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('call_id', sa.String(length=36), nullable=True),
        flag_column('name_unverified'),
        sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_reservations_call_id_calls'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_reservations_customer_id_customers')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_reservations')),
        sa.UniqueConstraint('reference', name=op.f('uq_reservations_reference'))
        )
        op.create_index(op.f('ix_reservations_customer_id'), 'reservations', ['customer_id'], unique=False)
        op.create_index('ix_reservations_vertical_arrival', 'reservations', ['vertical', 'arrival'], unique=False)
    else:
        add_column_if_missing('reservations', flag_column('name_unverified'))
    if not has_table('room_night_holds'):
        op.create_table('room_night_holds',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('vertical', sa.String(length=64), nullable=False),
        sa.Column('room_type', sa.String(length=32), nullable=False),
        sa.Column('night', sa.Date(), nullable=False),
        sa.Column('unit', sa.Integer(), nullable=False),
        sa.Column('reservation_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['reservation_id'], ['reservations.id'], name=op.f('fk_room_night_holds_reservation_id_reservations'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_room_night_holds')),
        sa.UniqueConstraint('vertical', 'room_type', 'night', 'unit', name=op.f('uq_room_night_holds_vertical_room_type_night_unit'))
        )
        op.create_index(op.f('ix_room_night_holds_reservation_id'), 'room_night_holds', ['reservation_id'], unique=False)


def downgrade() -> None:
    op.drop_table('room_night_holds')
    op.drop_table('reservations')
