"""agents' display names: the name people see, beside the sign-in name

Revision ID: d1a5e7c3f9b2
Revises: c7a3e9d5b1f4
Create Date: 2026-12-05 16:20:00

A supervisor creating an agent on /agents gives a sign-in name (``li``) and may give the name
colleagues know them by (李明). Existing agents have none: pages show the sign-in name.
"""
from alembic import op
import sqlalchemy as sa


revision = 'd1a5e7c3f9b2'
down_revision = 'c7a3e9d5b1f4'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('agents', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('display_name', sa.String(length=64), server_default='', nullable=False)
        )


def downgrade():
    with op.batch_alter_table('agents', schema=None) as batch_op:
        batch_op.drop_column('display_name')
