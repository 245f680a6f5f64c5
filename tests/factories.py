"""Factories: build rows through the real services where it matters, directly where it does not."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime

from sqlalchemy.orm import Session

from controlplane.clock import SystemClock
from controlplane.contract import TenantOutputs
from controlplane.dependencies import ServiceDependencies
from controlplane.domain.principal import Principal
from controlplane.domain.states import (
    MemberRole,
    OrganisationKind,
    OrganisationStatus,
    PlatformRole,
    ProjectState,
    RequestState,
)
from controlplane.persistence.models import Membership, Organisation, Project, QuotaRequest, WebhookDelivery, new_id
from controlplane.ports import Clock
from controlplane.projects import credentials
from controlplane.projects.credentials import CredentialVault

_counter = itertools.count(1)
FACTORY_PASSWORD = "factory-s3cret"  # the project user's password in credentials the factory seals


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


def active_project(
    session: Session,
    organisation_id: str | None = None,
    *,
    deps: ServiceDependencies | None = None,
    request_id: str | None = None,
    environment: str | None = None,
    region: str = "rabat-1",
    preset: str | None = "small",
    amounts: dict[str, int] | None = None,
    requester: str = "owner",
    granted: dict[str, int] | None = None,
    created_at: datetime | None = None,
    state: str = "active",
    vault: CredentialVault | None = None,
) -> Project:
    """The one way to make a project that is (or was) on the cloud, with its granted quota.

    - `request_id`: an approved request made elsewhere (e.g. over HTTP) is provisioned, as a worker does.
    - `deps`: a quota request is made through the real service for `organisation_id` (a new verified
      business when None) by `requester`, approved by an approver when the policy holds it, and provisioned.
    - neither: the rows (project and its active create request) are written directly with `granted`, at
      `created_at`, in `state`; for the readers of rows (billing) that need a project from the past.
    Provisioned means what the workflow's success writes: both states active, an OpenStack id, outputs,
    and, given a `vault`, the project user's credentials sealed (password FACTORY_PASSWORD)."""
    if request_id is None and deps is None:
        return _project_rows(session, organisation_id, environment, region, granted, created_at, state)
    if request_id is None:
        from controlplane.quota_requests import service
        from controlplane.quota_requests.schemas import QuotaRequestCreate

        org = organisation_id or organisation(session, admin=requester).id
        ask = QuotaRequestCreate(
            organisation_id=org,
            region=region,
            environment=environment or f"env{next(_counter)}",
            preset=preset,
            amounts=amounts or {},
            justification="factory",
        )
        request = service.create(session, deps, person(requester), ask)
        if request.state == RequestState.SUBMITTED.value:
            request = service.approve(session, deps, approver(), request.id, None)
        request_id = request.id
    return _provisioned(session, request_id, deps.clock if deps else None, vault)


def _provisioned(session: Session, request_id: str, clock: Clock | None, vault: CredentialVault | None) -> Project:
    from controlplane.quota_requests.lifecycle import transition

    request = session.get_one(QuotaRequest, request_id)
    assert request.state == RequestState.APPROVED.value, f"{request_id} is {request.state}, not approved"
    project = session.get_one(Project, request.project_id)
    kind = session.get_one(Organisation, request.organisation_id).kind
    clock = clock or SystemClock()
    for target, reason in ((RequestState.PROVISIONING, "provisioning started"), (RequestState.ACTIVE, "provisioned")):
        transition(session, clock, request, target, actor="worker", organisation_kind=kind, reason=reason)
    project.state = ProjectState.ACTIVE.value
    project.openstack_project_id = f"os-{project.id}"
    project.outputs = {
        "user_name": f"sahab-{project.organisation_id}-{project.region_id}-{project.environment}-user",
        "auth_url": "http://keystone.invalid/v3",
        "region": project.region_id,
        "network_id": f"net-{project.id}",
    }
    if vault is not None:
        outputs = TenantOutputs(
            openstack_project_id=project.openstack_project_id,
            password=FACTORY_PASSWORD,
            **{k: project.outputs[k] for k in ("user_name", "auth_url", "region", "network_id")},
        )
        credentials.store(session, vault, clock, project.id, outputs, "default")
    session.flush()
    return project


def _project_rows(
    session: Session,
    organisation_id: str | None,
    environment: str | None,
    region: str,
    granted: dict[str, int] | None,
    created_at: datetime | None,
    state: str,
) -> Project:
    n = next(_counter)
    at = created_at or datetime.now(UTC)
    row = Project(
        id=new_id("prj"),
        organisation_id=organisation_id or organisation(session).id,
        region_id=region,
        environment=environment or f"env{n}",
        state=state,
        granted=granted or {},
        outputs={},
        created_at=at,
        updated_at=at,
    )
    session.add(row)
    session.flush()
    request = QuotaRequest(
        id=new_id("req"),
        organisation_id=row.organisation_id,
        region_id=region,
        environment=row.environment,
        project_id=row.id,
        kind="create",
        amounts=granted or {},
        justification="factory",
        state="active",
        created_by="factory",
        created_at=at,
        updated_at=at,
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
