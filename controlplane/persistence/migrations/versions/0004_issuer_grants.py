"""built-in issuer grants: device grants, authorization codes, refresh tokens and throttles in the database

So that every API process (`sahab-server api --workers N`, several pods) sees the same
pending sign-ins and the same rate limits and lockouts. Nothing to
fill from existing rows: grants lived in process memory until now, and a CLI that was
mid-login simply starts again.

Revision ID: 0004
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa
import controlplane.persistence.models


revision = '0004'
down_revision = '0008'
branch_labels = None
depends_on = None

_UTC = controlplane.persistence.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table('issuer_device_grants',
    sa.Column('device_code_hash', sa.String(length=64), nullable=False),
    sa.Column('user_code', sa.String(length=16), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('scope', sa.String(length=200), nullable=False),
    sa.Column('expires_at', _UTC, nullable=False),
    sa.Column('interval', sa.Integer(), nullable=False),
    sa.Column('last_poll_at', _UTC, nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=True),
    sa.PrimaryKeyConstraint('device_code_hash'),
    sa.UniqueConstraint('user_code')
    )
    with op.batch_alter_table('issuer_device_grants', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_issuer_device_grants_expires_at'), ['expires_at'], unique=False)

    op.create_table('issuer_authorization_codes',
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('redirect_uri', sa.String(length=2000), nullable=False),
    sa.Column('scope', sa.String(length=200), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('code_challenge', sa.String(length=128), nullable=False),
    sa.Column('code_challenge_method', sa.String(length=8), nullable=False),
    sa.Column('expires_at', _UTC, nullable=False),
    sa.Column('used_at', _UTC, nullable=True),
    sa.Column('family_id', sa.String(length=32), nullable=True),
    sa.PrimaryKeyConstraint('code_hash')
    )
    with op.batch_alter_table('issuer_authorization_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_issuer_authorization_codes_expires_at'), ['expires_at'], unique=False)

    op.create_table('issuer_refresh_tokens',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('family_id', sa.String(length=32), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('scope', sa.String(length=200), nullable=False),
    sa.Column('issued_at', _UTC, nullable=False),
    sa.Column('expires_at', _UTC, nullable=False),
    sa.Column('family_expires_at', _UTC, nullable=False),
    sa.Column('rotated_at', _UTC, nullable=True),
    sa.Column('revoked_at', _UTC, nullable=True),
    sa.PrimaryKeyConstraint('token_hash')
    )
    with op.batch_alter_table('issuer_refresh_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_issuer_refresh_tokens_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_issuer_refresh_tokens_family_id'), ['family_id'], unique=False)

    op.create_table('issuer_throttles',
    sa.Column('key', sa.String(length=160), nullable=False),
    sa.Column('window_started_at', _UTC, nullable=False),
    sa.Column('hits', sa.Integer(), nullable=False),
    sa.Column('strikes', sa.Integer(), nullable=False),
    sa.Column('locked_until', _UTC, nullable=True),
    sa.Column('expires_at', _UTC, nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    with op.batch_alter_table('issuer_throttles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_issuer_throttles_expires_at'), ['expires_at'], unique=False)


def downgrade() -> None:
    for table in ('issuer_throttles', 'issuer_refresh_tokens', 'issuer_authorization_codes', 'issuer_device_grants'):
        op.drop_table(table)
