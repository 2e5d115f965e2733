"""recordings kept in the database (HOTLINE_AUDIO_STORE=database)

Revision ID: 5e1d0a7c3b21
Revises: 7cdac5d1c79c
Create Date: 2026-11-24 20:20:00

"""
from alembic import op
import sqlalchemy as sa


revision = '5e1d0a7c3b21'
down_revision = '7cdac5d1c79c'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('voicemail_audio',
    sa.Column('voicemail_id', sa.Integer(), nullable=False),
    sa.Column('codec', sa.String(length=8), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['voicemail_id'], ['voicemails.id'], name=op.f('fk_voicemail_audio_voicemail_id_voicemails'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('voicemail_id', name=op.f('pk_voicemail_audio'))
    )


def downgrade():
    op.drop_table('voicemail_audio')
