"""The clinic's tables: providers, appointments (with name_unverified) and slot holds.

The first revision of the dental_clinic branch. A database made before verticals became
plugins already has these tables (the core's revisions 0001 and 0007 made them): they are
adopted as they are, rows kept, and only a missing column is added.

Revision ID: dental_clinic_0001
Revises:
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from callflows.store.adopt import add_column_if_missing, flag_column, has_table

revision: str = 'dental_clinic_0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = ('dental_clinic',)
depends_on: str | Sequence[str] | None = None  # its own version table: it runs after the core's branch



def upgrade() -> None:
    if not has_table('providers'):
        op.create_table('providers',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('vertical', sa.String(length=64), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('title', sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_providers')),
        sa.UniqueConstraint('vertical', 'key', name=op.f('uq_providers_vertical_key'))
        )
        op.create_index(op.f('ix_providers_vertical'), 'providers', ['vertical'], unique=False)
    if not has_table('appointments'):
        op.create_table('appointments',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('vertical', sa.String(length=64), nullable=False),
        sa.Column('reference', sa.String(length=16), nullable=False),
        sa.Column('customer_id', sa.Integer(), nullable=False),
        sa.Column('provider_id', sa.Integer(), nullable=False),
        sa.Column('appointment_type', sa.String(length=64), nullable=False),
        sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('status', sa.String(length=16), server_default='booked', nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('call_id', sa.String(length=36), nullable=True),
        sa.Column('notes', sa.Text(), nullable=True),
        flag_column('name_unverified'),
        sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_appointments_call_id_calls'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_appointments_customer_id_customers')),
        sa.ForeignKeyConstraint(['provider_id'], ['providers.id'], name=op.f('fk_appointments_provider_id_providers')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_appointments')),
        sa.UniqueConstraint('reference', name=op.f('uq_appointments_reference'))
        )
        op.create_index(op.f('ix_appointments_customer_id'), 'appointments', ['customer_id'], unique=False)
        op.create_index('ix_appointments_provider_starts', 'appointments', ['provider_id', 'starts_at'], unique=False)
        op.create_index(op.f('ix_appointments_vertical'), 'appointments', ['vertical'], unique=False)
    else:
        add_column_if_missing('appointments', flag_column('name_unverified'))
    if not has_table('slot_holds'):
        op.create_table('slot_holds',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('provider_id', sa.Integer(), nullable=False),
        sa.Column('slot_start', sa.DateTime(timezone=True), nullable=False),
        sa.Column('appointment_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['appointment_id'], ['appointments.id'], name=op.f('fk_slot_holds_appointment_id_appointments'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['provider_id'], ['providers.id'], name=op.f('fk_slot_holds_provider_id_providers')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_slot_holds')),
        sa.UniqueConstraint('provider_id', 'slot_start', name=op.f('uq_slot_holds_provider_id_slot_start'))
        )
        op.create_index(op.f('ix_slot_holds_appointment_id'), 'slot_holds', ['appointment_id'], unique=False)


def downgrade() -> None:
    op.drop_table('slot_holds')
    op.drop_table('appointments')
    op.drop_table('providers')
