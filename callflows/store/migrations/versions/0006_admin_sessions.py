"""Admin sessions end on the server, and unknown login names lock like accounts.

``admin_users.session_version`` is carried by each session cookie (a logout, a new password
or a new role bumps it); ``admin_login_failures`` counts failed logins of names that are not
accounts (by a hash of the name), so the lockout does not tell real accounts apart.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('admin_users') as batch:
        batch.add_column(sa.Column('session_version', sa.Integer(), server_default='0', nullable=False))
    op.create_table('admin_login_failures',
    sa.Column('name_hash', sa.String(length=64), nullable=False),
    sa.Column('failed_logins', sa.Integer(), server_default='0', nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_failed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name_hash', name=op.f('pk_admin_login_failures'))
    )
    op.create_index(op.f('ix_admin_login_failures_last_failed_at'), 'admin_login_failures', ['last_failed_at'],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_admin_login_failures_last_failed_at'), table_name='admin_login_failures')
    op.drop_table('admin_login_failures')
    with op.batch_alter_table('admin_users') as batch:
        batch.drop_column('session_version')
