"""form keys and drafts: each web form is done once, and nothing typed is lost when a session ends

Revision ID: e9a4c2b7d5f1
Revises: c8e3f5a7b9d4
Create Date: 2026-12-05 07:30:00

``form_key_uses`` holds one row per form sent with a one-time key (a digest of the key, the agent,
the URL and the fields): a second copy of the form finds it and answers as the first did.
``form_drafts`` holds what a form carried when its session had ended, until it is sent again
after signing in. Both are swept by age (``used_at``, ``created_at``).
"""
from alembic import op
import sqlalchemy as sa
import ivr.database


revision = 'e9a4c2b7d5f1'
down_revision = 'c8e3f5a7b9d4'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('form_key_uses',
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('used_at', ivr.database.UTCDateTime(), nullable=False),
    sa.Column('location', sa.String(length=2000), nullable=True),
    sa.Column('notices', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('digest', name=op.f('pk_form_key_uses'))
    )
    with op.batch_alter_table('form_key_uses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_form_key_uses_used_at'), ['used_at'], unique=False)

    op.create_table('form_drafts',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('created_at', ivr.database.UTCDateTime(), nullable=False),
    sa.Column('action', sa.String(length=2000), nullable=False),
    sa.Column('page', sa.String(length=2000), nullable=False),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_form_drafts'))
    )
    with op.batch_alter_table('form_drafts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_form_drafts_created_at'), ['created_at'], unique=False)


def downgrade():
    with op.batch_alter_table('form_drafts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_form_drafts_created_at'))
    op.drop_table('form_drafts')
    with op.batch_alter_table('form_key_uses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_form_key_uses_used_at'))
    op.drop_table('form_key_uses')
