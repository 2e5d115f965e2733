"""conversation recordings: the recorded conversation as a job, its search terms and its audio

Revision ID: a1c3e5f7b9d2
Revises: f2a7c4e9b1d3
Create Date: 2026-12-04 23:49:44

A conversation recording is a job like a voice message (the same status, lease and audio
columns); its transcript is kept as turns of the customer and the agent.
"""
from alembic import op
import sqlalchemy as sa
import ivr.database


revision = 'a1c3e5f7b9d2'
down_revision = 'f2a7c4e9b1d3'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('conversation_recordings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.Integer(), nullable=True),
    sa.Column('call_sid', sa.String(length=64), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=True),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('direction', sa.String(length=16), nullable=False),
    sa.Column('queue', sa.String(length=64), nullable=False),
    sa.Column('language', sa.String(length=16), nullable=True),
    sa.Column('from_number', sa.String(length=64), nullable=False),
    sa.Column('recording_sid', sa.String(length=64), nullable=True),
    sa.Column('recording_url', sa.Text(), nullable=False),
    sa.Column('recording_duration', sa.Integer(), nullable=True),
    sa.Column('channels', sa.Integer(), nullable=False),
    sa.Column('started_at', ivr.database.UTCDateTime(), nullable=False),
    sa.Column('pauses', sa.JSON(), nullable=False),
    sa.Column('paused_at', ivr.database.UTCDateTime(), nullable=True),
    sa.Column('turns', sa.JSON(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('status_reason', sa.Text(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', ivr.database.UTCDateTime(), nullable=False),
    sa.Column('leased_by', sa.String(length=128), nullable=True),
    sa.Column('lease_until', ivr.database.UTCDateTime(), nullable=True),
    sa.Column('audio_path', sa.String(length=255), nullable=True),
    sa.Column('audio_format', sa.String(length=8), nullable=True),
    sa.Column('audio_bytes', sa.Integer(), nullable=True),
    sa.Column('duration', sa.Float(), nullable=True),
    sa.Column('transcript', sa.Text(), nullable=True),
    sa.Column('raw_transcript', sa.Text(), nullable=True),
    sa.Column('model', sa.String(length=255), nullable=True),
    sa.Column('transcription_seconds', sa.Float(), nullable=True),
    sa.Column('transcribed_at', ivr.database.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_conversation_recordings_agent_id_agents'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_conversation_recordings_call_id_calls'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['entry_id'], ['queue_entries.id'], name=op.f('fk_conversation_recordings_entry_id_queue_entries'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conversation_recordings')),
    sa.UniqueConstraint('recording_sid', name=op.f('uq_conversation_recordings_recording_sid'))
    )
    with op.batch_alter_table('conversation_recordings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_conversation_recordings_agent_id'), ['agent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_conversation_recordings_call_sid'), ['call_sid'], unique=False)
        batch_op.create_index(batch_op.f('ix_conversation_recordings_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_conversation_recordings_from_number'), ['from_number'], unique=False)
        batch_op.create_index('ix_conversation_recordings_queue', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_conversation_recordings_started_at'), ['started_at'], unique=False)

    op.create_table('conversation_audio',
    sa.Column('recording_id', sa.Integer(), nullable=False),
    sa.Column('codec', sa.String(length=8), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['recording_id'], ['conversation_recordings.id'], name=op.f('fk_conversation_audio_recording_id_conversation_recordings'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('recording_id', name=op.f('pk_conversation_audio'))
    )
    op.create_table('conversation_terms',
    sa.Column('term', sa.String(length=32), nullable=False),
    sa.Column('recording_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['recording_id'], ['conversation_recordings.id'], name=op.f('fk_conversation_terms_recording_id_conversation_recordings'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('term', 'recording_id', name=op.f('pk_conversation_terms'))
    )
    with op.batch_alter_table('conversation_terms', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_conversation_terms_recording_id'), ['recording_id'], unique=False)



def downgrade():
    with op.batch_alter_table('conversation_terms', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_conversation_terms_recording_id'))

    op.drop_table('conversation_terms')
    op.drop_table('conversation_audio')
    with op.batch_alter_table('conversation_recordings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_conversation_recordings_started_at'))
        batch_op.drop_index('ix_conversation_recordings_queue')
        batch_op.drop_index(batch_op.f('ix_conversation_recordings_from_number'))
        batch_op.drop_index(batch_op.f('ix_conversation_recordings_entry_id'))
        batch_op.drop_index(batch_op.f('ix_conversation_recordings_call_sid'))
        batch_op.drop_index(batch_op.f('ix_conversation_recordings_agent_id'))

    op.drop_table('conversation_recordings')
