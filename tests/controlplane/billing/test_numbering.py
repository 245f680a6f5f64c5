"""Statement numbers: gap-free and unique per year when many issue at once (threads on one database)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from controlplane.billing import statements
from controlplane.billing.billing import Billing
from controlplane.persistence.database import transaction
from controlplane.persistence.models import Organisation, Statement
from tests import factories
from tests.support.billing import march_price_change
from tests.support.concurrency import at_once

APRIL = datetime(2026, 4, 1, 1, tzinfo=UTC)


class Abandoned(Exception):
    pass


def test_concurrent_issues_share_one_gap_free_sequence(database_url, sessions):
    billing = Billing(march_price_change())
    with transaction(sessions) as session:
        ids = [factories.organisation(session).id for _ in range(12)]

    def issue(organisation_id: str, abandon: bool) -> None:
        with transaction(sessions) as session:
            statements.issue(session, billing, session.get_one(Organisation, organisation_id), "2026-03", APRIL)
            if abandon:
                raise Abandoned  # rolled back after taking a number: the number goes back

    errors = at_once([lambda oid=oid, n=n: issue(oid, n % 4 == 0) for n, oid in enumerate(ids)])
    assert errors and all(isinstance(e, Abandoned) for e in errors), errors
    with transaction(sessions) as session:
        numbers = sorted(session.scalars(select(Statement.number).where(Statement.number.is_not(None))))
    assert numbers == [f"SAH-2026-{n:06d}" for n in range(1, len(ids) - len(errors) + 1)]
