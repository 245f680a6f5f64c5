"""project credentials, sealed

Revision ID: 0007
Revises: 0002

The project users' clouds.yaml entries, sealed with SAHAB_CREDENTIALS_KEYS. Nothing
can be filled here: until now the secret lived only in the Pulumi state. Projects
provisioned before this revision are served on first demand: the credentials route
queues `sahab.capture-credentials`, a worker reads the stack's outputs once and
stores them (the route answers 503 `credentials-pending` until then).
"""
from alembic import op
import sqlalchemy as sa
import controlplane.persistence.models


revision = '0007'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('project_credentials',
    sa.Column('project_id', sa.String(length=32), nullable=False),
    sa.Column('sealed', sa.Text(), nullable=False),
    sa.Column('captured_at', controlplane.persistence.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ),
    sa.PrimaryKeyConstraint('project_id')
    )


def downgrade() -> None:
    op.drop_table('project_credentials')
