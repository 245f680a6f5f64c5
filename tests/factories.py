"""Factories: build rows through the real services where it matters, directly where it does not."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime

from sqlalchemy.orm import Session

from controlplane.domain.principal import Principal
from controlplane.domain.states import MemberRole, OrganisationKind, OrganisationStatus, PlatformRole
from controlplane.persistence.models import Membership, Organisation, Project, WebhookDelivery, new_id

_counter = itertools.count(1)


def organisation(
    session: Session,
    *,
    kind: OrganisationKind = OrganisationKind.BUSINESS,
    admin: str | None = "owner",
    status: OrganisationStatus = OrganisationStatus.VERIFIED,
    members: tuple[str, ...] = (),
    sector: str | None = None,
    employees: int | None = None,
    founded_on: date | None = None,
) -> Organisation:
    """A profile given (sector, employees or founded_on) counts as verified when the organisation is."""
    n = next(_counter)
    now = datetime.now(UTC)
    national_id = f"{n:015d}" if kind == OrganisationKind.BUSINESS else f"ADM-{n}"
    org = Organisation(
        id=f"org_test{n:06d}",
        kind=kind.value,
        legal_name=f"Test {kind.value} {n}",
        national_id=national_id,
        contact_email=f"contact{n}@example.org",
        status=status.value,
        created_by=admin or "factory",
        created_at=now,
        sector=sector,
        employees=employees,
        founded_on=founded_on,
        profile_verified_at=now if status == OrganisationStatus.VERIFIED else None,
    )
    session.add(org)
    session.flush()
    if admin:
        session.add(Membership(organisation_id=org.id, subject=admin, role=MemberRole.ADMIN.value, created_at=now))
    for member in members:
        session.add(Membership(organisation_id=org.id, subject=member, role=MemberRole.MEMBER.value, created_at=now))
    session.flush()
    return org


def person(subject: str = "owner", **kwargs: object) -> Principal:
    return Principal(subject=subject, issuer="test", **kwargs)  # type: ignore[arg-type]


def approver(subject: str = "approver") -> Principal:
    return Principal(subject=subject, issuer="test", platform_roles=frozenset({PlatformRole.APPROVER}))


def operator(subject: str = "operator") -> Principal:
    return Principal(subject=subject, issuer="test", platform_roles=frozenset({PlatformRole.OPERATOR}))


def webhook_delivery(
    session: Session,
    organisation_id: str,
    *,
    state: str = "failed",
    attempts: int = 5,
    at: datetime | None = None,
    payload: dict[str, object] | None = None,
) -> WebhookDelivery:
    now = at or datetime.now(UTC)
    delivery = WebhookDelivery(
        id=new_id("whd"),
        organisation_id=organisation_id,
        state=state,
        attempts=attempts,
        payload=payload or {"type": "sahab.usage.threshold", "resource": "vcpus", "threshold": 80},
        last_status=503 if state == "failed" else None,
        last_error="HTTP 503: down" if state == "failed" else None,
        next_attempt_at=now if state == "pending" else None,
        created_at=now,
        updated_at=now,
    )
    session.add(delivery)
    session.flush()
    return delivery


def project(
    session: Session,
    organisation_id: str,
    *,
    created_at: datetime,
    environment: str | None = None,
    region: str = "rabat-1",
    granted: dict[str, int] | None = None,
    state: str = "active",
) -> Project:
    """A project with the request that created it (active), written directly: billing reads only the rows."""
    from controlplane.persistence.models import QuotaRequest

    n = next(_counter)
    row = Project(
        id=new_id("prj"),
        organisation_id=organisation_id,
        region_id=region,
        environment=environment or f"env{n}",
        state=state,
        granted=granted or {},
        outputs={},
        created_at=created_at,
        updated_at=created_at,
    )
    session.add(row)
    session.flush()
    request = QuotaRequest(
        id=new_id("req"),
        organisation_id=organisation_id,
        region_id=region,
        environment=row.environment,
        project_id=row.id,
        kind="create",
        amounts=granted or {},
        justification="factory",
        state="active",
        created_by="factory",
        created_at=created_at,
        updated_at=created_at,
    )
    session.add(request)
    session.flush()
    row.current_request_id = request.id
    session.flush()
    return row


def decommissioned(session: Session, project_row: Project, at: datetime) -> None:
    """The project was removed from the cloud at `at` (its request's decommissioned transition)."""
    from controlplane.persistence.models import RequestEvent

    session.add(
        RequestEvent(
            request_id=project_row.current_request_id,
            at=at,
            actor="worker",
            from_state="decommissioning",
            to_state="decommissioned",
            reason="removed",
        )
    )
    project_row.state, project_row.updated_at, project_row.granted = "decommissioned", at, {}
    session.flush()


def usage_sample(
    session: Session,
    project_row: Project,
    at: datetime,
    *,
    used: dict[str, int] | None = None,
    quota: dict[str, int] | None = None,
) -> None:
    from controlplane.persistence.models import UsageSample

    session.add(
        UsageSample(
            project_id=project_row.id,
            organisation_id=project_row.organisation_id,
            region_id=project_row.region_id,
            at=at,
            used=used or {},
            quota=quota or {},
        )
    )
    session.flush()


def startup(session: Session, *, admin: str | None = "owner", **kwargs: object) -> Organisation:
    """A verified business eligible for the demo programme startup-launch: 6 employees, founded last year."""
    profile: dict[str, object] = {"sector": "technology", "employees": 6, "founded_on": date(2025, 6, 1), **kwargs}
    return organisation(session, admin=admin, **profile)  # type: ignore[arg-type]
