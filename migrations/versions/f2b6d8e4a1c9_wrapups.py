"""wrap-ups: an agent's disposition code and note on a call

Revision ID: f2b6d8e4a1c9
Revises: f1a2b3c4d5e6
Create Date: 2026-12-04 21:30:00

One row per call and agent (the unique key): saving a wrap-up again replaces it. The codes come
from the menu file's `dispositions`; the row keeps the code as it was filed.
"""
from alembic import op
import sqlalchemy as sa

import ivr.database


revision = 'f2b6d8e4a1c9'
down_revision = 'f1a2b3c4d5e6'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('wrapups',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.Integer(), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=False),
    sa.Column('disposition', sa.String(length=40), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('saved_at', ivr.database.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_wrapups_agent_id_agents'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_wrapups_call_id_calls'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wrapups')),
    sa.UniqueConstraint('call_id', 'agent_id', name='uq_wrapups_call_agent')
    )


def downgrade():
    op.drop_table('wrapups')
