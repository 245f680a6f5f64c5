"""metering schedule: when each project's Nova and Cinder quotas were last read, and its Keystone name

Revision ID: 0009
Revises: 0002
Create Date: 2026-12-02 01:00:00
"""
from alembic import op
import sqlalchemy as sa
import controlplane.persistence.models


revision = '0009'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('project_metering', schema=None) as batch_op:
        batch_op.add_column(sa.Column('quota_checked_at', controlplane.persistence.models.UTCDateTime(timezone=True),
                                      nullable=True))
    # Until now every collection read every project's quotas: the last reading was a check. Keeping it
    # spreads the first checks over the period instead of reading every project's quotas at once.
    op.execute("UPDATE project_metering SET quota_checked_at = measured_at WHERE quota IS NOT NULL")
    # The name Sahab gives the Keystone project (TenantSpec.openstack_project_name); collections keep it
    # as Keystone has it from now on.
    op.execute(
        "UPDATE project_metering SET openstack_project_name = (SELECT 'sahab-' || p.organisation_id || '-' || "
        "p.region_id || '-' || p.environment FROM projects p WHERE p.id = project_metering.project_id) "
        "WHERE openstack_project_name IS NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table('project_metering', schema=None) as batch_op:
        batch_op.drop_column('quota_checked_at')
