"""programmes: organisation profiles, enrolments, expiry notices, programme-funded grants

Revision ID: 0011
Revises: 0007

Organisations gain the profile programmes judge them on (sector, employees, founding
date; empty for existing rows, which their admins fill in) and when an operator last
verified it. Projects record the programme whose reserve funds them (none so far, so
existing grants stay in the general pool), and each region's running totals gain the
per-programme map (filled empty: no grant is programme-funded yet, so the existing
`granted_business` totals, now the general pool's, are already right).
"""
from alembic import op
import sqlalchemy as sa
import controlplane.persistence.models


revision = '0011'
down_revision = '0007'
branch_labels = None
depends_on = None

LIVE = sa.text("state IN ('pending', 'enrolled', 'expired', 'shrinking')")
UTC = controlplane.persistence.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.add_column('organisations', sa.Column('sector', sa.String(length=32), nullable=True))
    op.add_column('organisations', sa.Column('employees', sa.Integer(), nullable=True))
    op.add_column('organisations', sa.Column('founded_on', sa.Date(), nullable=True))
    op.add_column('organisations', sa.Column('profile_verified_at', UTC, nullable=True))
    op.add_column('projects', sa.Column('programme_id', sa.String(length=64), nullable=True))
    # Every existing grant is the general pool's: the per-programme map starts empty.
    op.add_column('region_totals', sa.Column('granted_programmes', sa.JSON(), nullable=False,
                                             server_default=sa.text("'{}'")))

    op.create_table('programme_enrolments',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('programme_id', sa.String(length=64), nullable=False),
    sa.Column('organisation_id', sa.String(length=32), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('applied_by', sa.String(length=255), nullable=False),
    sa.Column('created_at', UTC, nullable=False),
    sa.Column('decided_by', sa.String(length=255), nullable=True),
    sa.Column('decided_at', UTC, nullable=True),
    sa.Column('starts_at', UTC, nullable=True),
    sa.Column('ends_at', UTC, nullable=True),
    sa.Column('percent_off', sa.Numeric(precision=5, scale=2), nullable=True),
    sa.Column('choice', sa.String(length=16), nullable=True),
    sa.Column('chosen_by', sa.String(length=255), nullable=True),
    sa.Column('chosen_at', UTC, nullable=True),
    sa.Column('updated_at', UTC, nullable=False),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_programme_enrolments_programme_id', 'programme_enrolments', ['programme_id'])
    op.create_index('ix_programme_enrolments_organisation_id', 'programme_enrolments', ['organisation_id'])
    op.create_index('ix_programme_enrolments_state', 'programme_enrolments', ['state'])
    op.create_index('ix_programme_enrolments_ends_at', 'programme_enrolments', ['ends_at'])
    op.create_index('uq_live_enrolment', 'programme_enrolments', ['organisation_id'], unique=True,
                    sqlite_where=LIVE, postgresql_where=LIVE)

    op.create_table('programme_notices',
    sa.Column('enrolment_id', sa.String(length=32), nullable=False),
    sa.Column('days_before', sa.Integer(), nullable=False),
    sa.Column('created_at', UTC, nullable=False),
    sa.Column('delivery_id', sa.String(length=32), nullable=True),
    sa.Column('email_to', sa.String(length=254), nullable=True),
    sa.Column('email_state', sa.String(length=16), nullable=False),
    sa.Column('email_attempts', sa.Integer(), nullable=False),
    sa.Column('email_next_attempt_at', UTC, nullable=True),
    sa.Column('email_sent_at', UTC, nullable=True),
    sa.Column('email_error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['enrolment_id'], ['programme_enrolments.id'], ),
    sa.PrimaryKeyConstraint('enrolment_id', 'days_before')
    )
    op.create_index('ix_programme_notices_email_state', 'programme_notices', ['email_state'])


def downgrade() -> None:
    op.drop_index('ix_programme_notices_email_state', table_name='programme_notices')
    op.drop_table('programme_notices')
    op.drop_index('uq_live_enrolment', table_name='programme_enrolments', sqlite_where=LIVE, postgresql_where=LIVE)
    for column in ('ends_at', 'state', 'organisation_id', 'programme_id'):
        op.drop_index(f'ix_programme_enrolments_{column}', table_name='programme_enrolments')
    op.drop_table('programme_enrolments')
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+): a batch copy would drop and recreate `projects` and
    # `organisations`, which other tables' rows reference, and SQLite refuses that with foreign keys on.
    op.drop_column('region_totals', 'granted_programmes')
    op.drop_column('projects', 'programme_id')
    for column in ('profile_verified_at', 'founded_on', 'employees', 'sector'):
        op.drop_column('organisations', column)
