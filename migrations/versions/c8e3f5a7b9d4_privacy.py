"""privacy: agents who see caller numbers whole, and the retention sweep's last run

Revision ID: c8e3f5a7b9d4
Revises: b7d2e4f6a8c1
Create Date: 2026-12-05 00:30:00

Agents see callers' numbers masked unless a supervisor gives them the right (``sees_numbers``).
The retention sweep keeps one row: when it last ran, which is also how several workers agree
that only one of them sweeps, and what it removed.
"""
from alembic import op
import sqlalchemy as sa
import ivr.database


revision = 'c8e3f5a7b9d4'
down_revision = 'b7d2e4f6a8c1'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('agents') as batch_op:
        batch_op.add_column(
            sa.Column('sees_numbers', sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_table('retention_sweeps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('started_at', ivr.database.UTCDateTime(), nullable=True),
    sa.Column('finished_at', ivr.database.UTCDateTime(), nullable=True),
    sa.Column('removed', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )


def downgrade():
    op.drop_table('retention_sweeps')
    with op.batch_alter_table('agents') as batch_op:
        batch_op.drop_column('sees_numbers')
