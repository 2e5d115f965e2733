"""the call's step at which a caller entered a queue; the conversation's conference; transfers

Revision ID: f1a2b3c4d5e6
Revises: c5e8a1f0b3d2
Create Date: 2026-12-04 21:50:00

A caller moved out of the queue into a conversation's conference goes on from there: the next
webhooks of their call (joining, the rating after the talk) are numbered after it, so that
Twilio's retries of each are logged once. The conference's sid (Twilio changes participants by
it, not by name) comes with the conference's first report. A stay offered to an agent by
another agent's transfer names that agent. A call-back rings the customer into the room: the
customer's new leg is kept.
"""
from alembic import op
import sqlalchemy as sa


revision = 'f1a2b3c4d5e6'
down_revision = 'c5e8a1f0b3d2'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('queue_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('step', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('conference_sid', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('transferred_from', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('caller_leg', sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table('queue_entries', schema=None) as batch_op:
        batch_op.drop_column('caller_leg')
        batch_op.drop_column('transferred_from')
        batch_op.drop_column('conference_sid')
        batch_op.drop_column('step')
