"""indexes for the lists: calls by outcome, messages by case status, newest first

Revision ID: b4c8e2f19d07
Revises: 5e1d0a7c3b21
Create Date: 2026-11-24 21:00:00

Measured with bench/history.py on 100 000 calls and messages: on SQLite, calls filtered by outcome
were read through ix_calls_outcome and sorted (50-90 ms), and the inbox's "new" tab read every
message newest first looking for the few still received (100 ms on SQLite, 45 ms on
PostgreSQL). With the status or outcome first and the time second, both read just one page.
(outcome, started_at) also serves every lookup ix_calls_outcome served, so it replaces it.
"""
from alembic import op
import sqlalchemy as sa


revision = 'b4c8e2f19d07'
down_revision = '5e1d0a7c3b21'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.create_index('ix_calls_outcome_started_at', ['outcome', 'started_at'], unique=False)
        batch_op.drop_index(batch_op.f('ix_calls_outcome'))

    with op.batch_alter_table('voicemails', schema=None) as batch_op:
        batch_op.create_index('ix_voicemails_case_status_created_at', ['case_status', 'created_at'], unique=False)


def downgrade():
    with op.batch_alter_table('voicemails', schema=None) as batch_op:
        batch_op.drop_index('ix_voicemails_case_status_created_at')

    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_calls_outcome'), ['outcome'], unique=False)
        batch_op.drop_index('ix_calls_outcome_started_at')
