"""Programmes' repository on the real databases: a caller reads only its organisations' enrolments."""

from __future__ import annotations

from datetime import UTC, datetime

from controlplane.persistence.database import transaction
from controlplane.persistence.models import ProgrammeEnrolment, new_id
from controlplane.programmes import repository
from tests import factories

NOW = datetime(2026, 11, 5, 12, tzinfo=UTC)


def _enrolment(organisation_id: str) -> ProgrammeEnrolment:
    return ProgrammeEnrolment(
        id=new_id("enr"),
        programme_id="startup-launch",
        organisation_id=organisation_id,
        state="pending",
        reason="",
        applied_by="owner",
        created_at=NOW,
        updated_at=NOW,
    )


def test_a_member_reads_only_its_organisations_enrolments_and_staff_read_all(sessions):
    with transaction(sessions) as session:
        mine = factories.organisation(session, admin="amina")
        theirs = factories.organisation(session, admin="youssef")
        enrolments = {org.id: _enrolment(org.id) for org in (mine, theirs)}
        session.add_all(enrolments.values())
        session.flush()

        def seen(principal):
            listed = {e.organisation_id for e in session.scalars(repository.visible_enrolments(principal))}
            fetched = {
                org_id
                for org_id, row in enrolments.items()
                if repository.visible_enrolment(session, principal, row.id) is not None
            }
            return listed, fetched

        assert seen(factories.person("amina")) == ({mine.id}, {mine.id})
        claimed = factories.person("stranger", claimed_organisations={theirs.id: "member"})
        assert seen(claimed) == ({theirs.id}, {theirs.id})
        assert seen(factories.person("nobody")) == (set(), set())
        assert seen(factories.approver()) == ({mine.id, theirs.id}, {mine.id, theirs.id})
        locked = repository.visible_enrolment(
            session, factories.person("amina"), enrolments[theirs.id].id, for_update=True
        )
        assert locked is None
