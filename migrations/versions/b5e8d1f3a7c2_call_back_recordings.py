"""call-back recordings: the message a call-back answers, and which channel is the customer

Revision ID: b5e8d1f3a7c2
Revises: d4f7a2c9e1b3
Create Date: 2026-12-05 12:10:00

A call-back from the inbox is recorded by ``<Dial record>`` on the agent's leg: Twilio puts the
dialling leg (the agent) on channel 1 and the customer on channel 2, the other way round from a
queue conversation, where the customer's own leg is recorded.
"""
from alembic import op
import sqlalchemy as sa


revision = 'b5e8d1f3a7c2'
down_revision = 'd4f7a2c9e1b3'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('conversation_recordings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('voicemail_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('customer_channel', sa.Integer(), server_default='1',
                                      nullable=False))
        batch_op.create_index(batch_op.f('ix_conversation_recordings_voicemail_id'),
                              ['voicemail_id'], unique=False)
        batch_op.create_foreign_key(
            batch_op.f('fk_conversation_recordings_voicemail_id_voicemails'), 'voicemails',
            ['voicemail_id'], ['id'], ondelete='SET NULL')


def downgrade():
    with op.batch_alter_table('conversation_recordings', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_conversation_recordings_voicemail_id_voicemails'),
                                 type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_conversation_recordings_voicemail_id'))
        batch_op.drop_column('customer_channel')
        batch_op.drop_column('voicemail_id')
