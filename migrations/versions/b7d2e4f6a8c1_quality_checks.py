"""quality checks: what the quality rules found in each message and conversation, and its tags

Revision ID: b7d2e4f6a8c1
Revises: a1c3e5f7b9d2
Create Date: 2026-12-05 00:20:00

One row per transcribed message or conversation (its score, tags and the matched words with
their places), deleted with what it checks; the tags again one per row, for the page's filter.
"""
from alembic import op
import sqlalchemy as sa
import ivr.database


revision = 'b7d2e4f6a8c1'
down_revision = 'a1c3e5f7b9d2'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('quality_checks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('voicemail_id', sa.Integer(), nullable=True),
    sa.Column('recording_id', sa.Integer(), nullable=True),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('call_sid', sa.String(length=64), nullable=False),
    sa.Column('at', ivr.database.UTCDateTime(), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('matches', sa.JSON(), nullable=False),
    sa.Column('suggested_topic', sa.String(length=64), nullable=True),
    sa.Column('checked_at', ivr.database.UTCDateTime(), nullable=False),
    sa.Column('alerted_at', ivr.database.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_quality_checks_agent_id_agents'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['recording_id'], ['conversation_recordings.id'], name=op.f('fk_quality_checks_recording_id_conversation_recordings'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['voicemail_id'], ['voicemails.id'], name=op.f('fk_quality_checks_voicemail_id_voicemails'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quality_checks')),
    sa.UniqueConstraint('recording_id', name=op.f('uq_quality_checks_recording_id')),
    sa.UniqueConstraint('voicemail_id', name=op.f('uq_quality_checks_voicemail_id'))
    )
    with op.batch_alter_table('quality_checks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quality_checks_agent_id'), ['agent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_quality_checks_at'), ['at'], unique=False)
        batch_op.create_index('ix_quality_checks_score_at', ['score', 'at'], unique=False)

    op.create_table('quality_tags',
    sa.Column('check_id', sa.Integer(), nullable=False),
    sa.Column('tag', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['check_id'], ['quality_checks.id'], name=op.f('fk_quality_tags_check_id_quality_checks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('check_id', 'tag', name=op.f('pk_quality_tags'))
    )
    with op.batch_alter_table('quality_tags', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quality_tags_tag'), ['tag'], unique=False)


def downgrade():
    with op.batch_alter_table('quality_tags', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quality_tags_tag'))

    op.drop_table('quality_tags')
    with op.batch_alter_table('quality_checks', schema=None) as batch_op:
        batch_op.drop_index('ix_quality_checks_score_at')
        batch_op.drop_index(batch_op.f('ix_quality_checks_at'))
        batch_op.drop_index(batch_op.f('ix_quality_checks_agent_id'))

    op.drop_table('quality_checks')
