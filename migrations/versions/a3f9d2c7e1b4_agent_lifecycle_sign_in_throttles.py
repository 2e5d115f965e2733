"""agents that can be disabled, sessions that can be ended, and sign-in throttles

Revision ID: a3f9d2c7e1b4
Revises: e4b7c1d9a2f6
Create Date: 2026-12-04 14:45:00

agents.disabled_at: set while an agent may not sign in, act through the API or be offered a
caller. agents.session_epoch: part of every session's user id; raising it (sign-out, a password
change, disabling) ends the agent's sessions in every web process. sign_in_throttles: failed
sign-ins per account name and per client address, shared by every process and machine.
"""
from alembic import op
import sqlalchemy as sa

from ivr.database import UTCDateTime


revision = 'a3f9d2c7e1b4'
down_revision = 'e4b7c1d9a2f6'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('agents') as batch:
        batch.add_column(sa.Column('disabled_at', UTCDateTime(), nullable=True))
        batch.add_column(
            sa.Column('session_epoch', sa.Integer(), nullable=False, server_default='0')
        )
    op.create_table(
        'sign_in_throttles',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=200), nullable=False),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('last_at', UTCDateTime(), nullable=False),
        sa.Column('blocked_until', UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sign_in_throttles')),
        sa.UniqueConstraint('key', name=op.f('uq_sign_in_throttles_key')),
    )


def downgrade():
    op.drop_table('sign_in_throttles')
    with op.batch_alter_table('agents') as batch:
        batch.drop_column('session_epoch')
        batch.drop_column('disabled_at')
