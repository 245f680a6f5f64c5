"""region running totals

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 00:50:00

The granted totals per region (all organisations and businesses only), filled here from the
live projects exactly as the invariant check recomputes them (controlplane.capacity).
"""
from alembic import op
import sqlalchemy as sa

from controlplane.capacity import sum_grants  # the same arithmetic as the invariant check


revision = '0003'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    totals = op.create_table(
        'region_totals',
        sa.Column('region_id', sa.String(length=64), nullable=False),
        sa.Column('granted', sa.JSON(), nullable=False),
        sa.Column('granted_business', sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(['region_id'], ['regions.id'], name='fk_region_totals_region_id_regions'),
        sa.PrimaryKeyConstraint('region_id'),
    )
    connection = op.get_bind()
    regions = [row[0] for row in connection.execute(sa.text("SELECT id FROM regions"))]
    projects = sa.table('projects', sa.column('region_id', sa.String), sa.column('organisation_id', sa.String),
                        sa.column('state', sa.String), sa.column('granted', sa.JSON))
    organisations = sa.table('organisations', sa.column('id', sa.String), sa.column('kind', sa.String))
    rows = connection.execute(
        sa.select(projects.c.region_id, projects.c.granted, organisations.c.kind)
        .join(organisations, organisations.c.id == projects.c.organisation_id)
        .where(projects.c.state != 'decommissioned')
    )
    sums = sum_grants(rows)
    op.bulk_insert(totals, [
        {"region_id": region_id, "granted": sums[region_id].all_plain(), "granted_business": sums[region_id].business_plain()}
        for region_id in regions
    ])


def downgrade() -> None:
    op.drop_table('region_totals')
