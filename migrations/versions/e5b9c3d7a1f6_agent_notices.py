"""agent notices: an agent is told when a supervisor gives their case to someone else

Revision ID: e5b9c3d7a1f6
Revises: d1a5e7c3f9b2
Create Date: 2026-12-05 16:40:00

A supervisor reassigns a voice message's case on its page; the agent who had it (and the one
who gets it) sees a notice on their inbox and board until they mark it seen. One row per
notice, read by the agent's id; an agent's notices go with the agent.
"""
from alembic import op
import sqlalchemy as sa

import ivr.database


revision = 'e5b9c3d7a1f6'
down_revision = 'd1a5e7c3f9b2'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('agent_notices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=False),
    sa.Column('created_at', ivr.database.UTCDateTime(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('seen_at', ivr.database.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_agent_notices_agent_id_agents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agent_notices'))
    )
    with op.batch_alter_table('agent_notices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agent_notices_agent_id'), ['agent_id'], unique=False)


def downgrade():
    with op.batch_alter_table('agent_notices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agent_notices_agent_id'))
    op.drop_table('agent_notices')
