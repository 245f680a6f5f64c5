"""billing: statements and credit notes, their yearly numbering, budgets

Revision ID: 0012
Revises: 0007

New tables only: statements are computed from the usage samples already stored (the first
monthly run issues last month's statements from them), so nothing is filled here.
"""
from alembic import op
import sqlalchemy as sa
import controlplane.persistence.models


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

UTC = controlplane.persistence.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table('statements',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('organisation_id', sa.String(length=32), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('number', sa.String(length=32), nullable=True),
    sa.Column('currency', sa.String(length=8), nullable=False),
    sa.Column('price_versions', sa.JSON(), nullable=False),
    sa.Column('lines', sa.JSON(), nullable=False),
    sa.Column('list_total', sa.String(length=40), nullable=False),
    sa.Column('discount_total', sa.String(length=40), nullable=False),
    sa.Column('total', sa.String(length=40), nullable=False),
    sa.Column('corrects_id', sa.String(length=32), nullable=True),
    sa.Column('replaces_id', sa.String(length=32), nullable=True),
    sa.Column('corrected_by_id', sa.String(length=32), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('computed_at', UTC, nullable=False),
    sa.Column('issued_at', UTC, nullable=True),
    sa.Column('created_at', UTC, nullable=False),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], ),
    sa.ForeignKeyConstraint(['corrects_id'], ['statements.id'], ),
    sa.ForeignKeyConstraint(['replaces_id'], ['statements.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('number')
    )
    op.create_index('ix_statements_organisation_period', 'statements', ['organisation_id', 'period'], unique=False)
    op.create_index('uq_current_statement', 'statements', ['organisation_id', 'period'], unique=True,
                    sqlite_where=sa.text("kind = 'statement' AND state != 'corrected'"),
                    postgresql_where=sa.text("kind = 'statement' AND state != 'corrected'"))
    op.create_table('statement_sequences',
    sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('last', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('year')
    )
    op.create_table('budgets',
    sa.Column('organisation_id', sa.String(length=32), nullable=False),
    sa.Column('amount', sa.String(length=40), nullable=False),
    sa.Column('currency', sa.String(length=8), nullable=False),
    sa.Column('block_increases', sa.Boolean(), nullable=False),
    sa.Column('alerted_period', sa.String(length=7), nullable=True),
    sa.Column('alerted_threshold', sa.Integer(), nullable=False),
    sa.Column('updated_by', sa.String(length=255), nullable=False),
    sa.Column('updated_at', UTC, nullable=False),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], ),
    sa.PrimaryKeyConstraint('organisation_id')
    )


def downgrade() -> None:
    op.drop_table('budgets')
    op.drop_table('statement_sequences')
    op.drop_index('uq_current_statement', table_name='statements')
    op.drop_index('ix_statements_organisation_period', table_name='statements')
    op.drop_table('statements')
