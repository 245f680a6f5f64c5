"""Billing's repository on the real databases: a caller reads only its organisations' statements and projects."""

from __future__ import annotations

from datetime import UTC, datetime

from controlplane.billing import repository
from controlplane.persistence.database import transaction
from controlplane.persistence.models import Statement, new_id
from tests import factories

NOW = datetime(2026, 11, 5, 12, tzinfo=UTC)


def _statement(organisation_id: str) -> Statement:
    return Statement(
        id=new_id("stm"),
        organisation_id=organisation_id,
        period="2026-10",
        kind="statement",
        state="draft",
        currency="MAD",
        price_versions=[],
        lines=[],
        list_total="0.00",
        discount_total="0.00",
        total="0.00",
        computed_at=NOW,
        created_at=NOW,
    )


def test_a_member_reads_only_its_organisations_statements_and_projects_and_staff_read_all(sessions):
    with transaction(sessions) as session:
        mine = factories.organisation(session, admin="amina")
        theirs = factories.organisation(session, admin="youssef")
        statements = {org.id: _statement(org.id) for org in (mine, theirs)}
        projects = {org.id: factories.active_project(session, org.id, created_at=NOW) for org in (mine, theirs)}
        session.add_all(statements.values())
        session.flush()

        def seen(principal):
            listed = {s.organisation_id for s in session.scalars(repository.visible_statements(principal))}
            fetched = {
                org_id
                for org_id, row in statements.items()
                if repository.visible_statement(session, principal, row.id) is not None
            }
            projects_seen = {
                org_id
                for org_id, row in projects.items()
                if repository.visible_project(session, principal, row.id) is not None
            }
            return listed, fetched, projects_seen

        assert seen(factories.person("amina")) == ({mine.id}, {mine.id}, {mine.id})
        assert seen(factories.person("nobody")) == (set(), set(), set())
        both = {mine.id, theirs.id}
        assert seen(factories.approver()) == (both, both, both)
        of_their_project = repository.visible_statements(factories.operator(), of_project=projects[theirs.id])
        assert [s.id for s in session.scalars(of_their_project)] == [statements[theirs.id].id]
