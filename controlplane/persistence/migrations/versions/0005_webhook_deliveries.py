"""webhook deliveries: alerts sent by their own task, retried, kept when they fail

Revision ID: 0005
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa
import controlplane.persistence.models


revision = '0005'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('webhook_deliveries',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('organisation_id', sa.String(length=32), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_status', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('next_attempt_at', controlplane.persistence.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', controlplane.persistence.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', controlplane.persistence.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', controlplane.persistence.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_deliveries_organisation', ['organisation_id', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_webhook_deliveries_due', ['state', 'next_attempt_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_webhook_deliveries_due')
        batch_op.drop_index('ix_webhook_deliveries_organisation')
    op.drop_table('webhook_deliveries')
