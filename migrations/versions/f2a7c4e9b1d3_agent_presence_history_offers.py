"""agents' presence history, offers and session expiry

Revision ID: f2a7c4e9b1d3
Revises: f2b6d8e4a1c9
Create Date: 2026-12-04 21:20:00

Each change of an agent's presence is kept with its reason and start (shown as "busy for 12
min" and summed into wrap-up time); each offer of a caller to an agent is kept with how it
ended (the figures' offered, answered and missed). session_expires_at lets the distributor set
away an agent whose web session has run out. call_events gets an index by kind and time for
the hold and transfer figures.
"""
from alembic import op
import sqlalchemy as sa

import ivr.database


revision = 'f2a7c4e9b1d3'
down_revision = 'f2b6d8e4a1c9'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('agents', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('session_expires_at', ivr.database.UTCDateTime(), nullable=True)
        )
    op.create_table(
        'agent_presence_changes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('agent_id', sa.Integer(), nullable=False),
        sa.Column('presence', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.String(length=32), nullable=False),
        sa.Column('began_at', ivr.database.UTCDateTime(), nullable=False),
        sa.Column('entry_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ['agent_id'], ['agents.id'],
            name=op.f('fk_agent_presence_changes_agent_id_agents'), ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['entry_id'], ['queue_entries.id'],
            name=op.f('fk_agent_presence_changes_entry_id_queue_entries'), ondelete='SET NULL',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_agent_presence_changes')),
    )
    op.create_index(
        'ix_agent_presence_changes_agent', 'agent_presence_changes', ['agent_id', 'began_at']
    )
    op.create_index(
        'ix_agent_presence_changes_began_at', 'agent_presence_changes', ['began_at']
    )
    op.create_table(
        'agent_offers',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('agent_id', sa.Integer(), nullable=False),
        sa.Column('entry_id', sa.Integer(), nullable=False),
        sa.Column('queue', sa.String(length=64), nullable=False),
        sa.Column('offered_at', ivr.database.UTCDateTime(), nullable=False),
        sa.Column('ended_at', ivr.database.UTCDateTime(), nullable=True),
        sa.Column('outcome', sa.String(length=16), nullable=True),
        sa.Column('status', sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ['agent_id'], ['agents.id'],
            name=op.f('fk_agent_offers_agent_id_agents'), ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['entry_id'], ['queue_entries.id'],
            name=op.f('fk_agent_offers_entry_id_queue_entries'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_agent_offers')),
    )
    op.create_index('ix_agent_offers_agent_open', 'agent_offers', ['agent_id', 'ended_at'])
    op.create_index('ix_agent_offers_offered_at', 'agent_offers', ['offered_at'])
    op.create_index('ix_call_events_kind_at', 'call_events', ['kind', 'at'])


def downgrade():
    op.drop_index('ix_call_events_kind_at', table_name='call_events')
    op.drop_index('ix_agent_offers_offered_at', table_name='agent_offers')
    op.drop_index('ix_agent_offers_agent_open', table_name='agent_offers')
    op.drop_table('agent_offers')
    op.drop_index('ix_agent_presence_changes_began_at', table_name='agent_presence_changes')
    op.drop_index('ix_agent_presence_changes_agent', table_name='agent_presence_changes')
    op.drop_table('agent_presence_changes')
    with op.batch_alter_table('agents', schema=None) as batch_op:
        batch_op.drop_column('session_expires_at')
