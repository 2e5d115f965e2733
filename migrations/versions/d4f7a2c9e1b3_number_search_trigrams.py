"""number search: trigram indexes for part of a phone or case number (PostgreSQL)

Revision ID: d4f7a2c9e1b3
Revises: e9a4c2b7d5f1
Create Date: 2026-12-05 07:40:00

The inbox and the call log find "138001" or "8000" anywhere in a number: on PostgreSQL a GIN
trigram index (pg_trgm, a trusted extension since PostgreSQL 13: the database's owner may add it)
answers in a few milliseconds on 100 000 rows instead of a scan of the table. On SQLite the
indexes are partial on ``WHERE 0``, so they stay empty and cost nothing.
"""
from alembic import op
import sqlalchemy as sa


revision = 'd4f7a2c9e1b3'
down_revision = 'e9a4c2b7d5f1'
branch_labels = None
depends_on = None

INDEXES = (
    ('ix_voicemails_from_number_trgm', 'voicemails', 'from_number'),
    ('ix_voicemails_case_number_trgm', 'voicemails', 'case_number'),
    ('ix_calls_from_number_trgm', 'calls', 'from_number'),
    ('ix_calls_to_number_trgm', 'calls', 'to_number'),
)


def upgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
    for name, table, column in INDEXES:
        op.create_index(name, table, [column], unique=False, postgresql_using='gin',
                        postgresql_ops={column: 'gin_trgm_ops'}, sqlite_where=sa.false())


def downgrade():
    for name, table, _ in INDEXES:
        op.drop_index(name, table_name=table)
