"""Demo organisations for the embedded defaults, matching the built-in issuer's demo accounts."""

from __future__ import annotations

from sqlalchemy.orm import Session

from controlplane.domain.states import MemberRole, OrganisationKind, OrganisationStatus
from controlplane.organisations import repository as organisations
from controlplane.persistence.models import Membership, Organisation
from controlplane.ports import Clock

DEMO_ORGANISATIONS = [
    (
        "org_demo_agency",
        OrganisationKind.AGENCY,
        "Ministry of Digital Transition (demo)",
        "MTN-DIG-01",
        "cloud@digital.gov.example",
        "amina",
    ),
    (
        "org_demo_business",
        OrganisationKind.BUSINESS,
        "Atlas Analytics SARL (demo)",
        "001525478000089",
        "ops@atlas-analytics.example",
        "youssef",
    ),
]


_SEED_LOCK = 0x5A4A_0002


def seed_demo(session: Session, clock: Clock) -> None:
    """Idempotent: creates what is missing, leaves what exists. Several API processes starting at
    once on PostgreSQL take turns (SQLite transactions already do), so none fails on a duplicate."""
    organisations.take_seed_lock(session, _SEED_LOCK)
    now = clock.now()
    for org_id, kind, name, national_id, email, admin in DEMO_ORGANISATIONS:
        if organisations.get(session, org_id) is None:
            organisations.add_organisation(
                session,
                Organisation(
                    id=org_id,
                    kind=kind.value,
                    legal_name=name,
                    national_id=national_id,
                    contact_email=email,
                    status=OrganisationStatus.VERIFIED.value,
                    created_by="demo-seed",
                    created_at=now,
                ),
            )
        if organisations.membership(session, org_id, admin) is None:
            organisations.add_membership(
                session, Membership(organisation_id=org_id, subject=admin, role=MemberRole.ADMIN.value, created_at=now)
            )
    session.flush()
