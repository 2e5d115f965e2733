"""agents' missed offers in a row and last offer, for automatic distribution

Revision ID: c5e8a1f0b3d2
Revises: a3f9c2d71e05
Create Date: 2026-12-04 19:20:00

An automatic queue rings agents by itself; an agent who lets it ring out (or declines) a set
number of times in a row is set away. The count starts at 0 and an answered offer resets it.
last_offered_at orders agents for a round-robin queue.
"""
from alembic import op
import sqlalchemy as sa

import ivr.database


revision = 'c5e8a1f0b3d2'
down_revision = 'a3f9c2d71e05'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('agents', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('missed_offers', sa.Integer(), server_default='0', nullable=False)
        )
        batch_op.add_column(sa.Column('last_offered_at', ivr.database.UTCDateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('agents', schema=None) as batch_op:
        batch_op.drop_column('last_offered_at')
        batch_op.drop_column('missed_offers')
