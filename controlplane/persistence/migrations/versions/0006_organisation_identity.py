"""organisation identity: a national ID is unique among verified organisations only

Revision ID: 0006
Revises: 0002
Create Date: 2026-12-02 01:00:00

Before, any registration claimed its (kind, national_id) for good, so a squatter
could register another body's ID first and the real owner got 409. Now several
pending registrations may claim an ID; the partial index keeps one verified
holder. Existing rows already satisfy it (the old index was stricter).
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

VERIFIED = sa.text("status = 'verified'")


def upgrade() -> None:
    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.drop_index('uq_organisation_identity')
        batch_op.create_index('uq_verified_organisation_identity', ['kind', 'national_id'], unique=True,
                              sqlite_where=VERIFIED, postgresql_where=VERIFIED)


def downgrade() -> None:
    # Fails if unverified registrations share an ID: resolve those before going back.
    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.drop_index('uq_verified_organisation_identity', sqlite_where=VERIFIED, postgresql_where=VERIFIED)
        batch_op.create_index('uq_organisation_identity', ['kind', 'national_id'], unique=True)
