"""The one lifecycle of a quota request, used by the API, the CLI and the workers alike."""

from __future__ import annotations

from enum import StrEnum

from controlplane.errors import Detail, InvalidTransition


class RequestState(StrEnum):
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    PROVISIONING = "provisioning"
    ACTIVE = "active"
    FAILED = "failed"
    # An active request whose quota a later change request replaced.
    SUPERSEDED = "superseded"
    DECOMMISSIONING = "decommissioning"
    DECOMMISSIONED = "decommissioned"


S = RequestState

TRANSITIONS: dict[RequestState, frozenset[RequestState]] = {
    S.SUBMITTED: frozenset({S.APPROVED, S.REJECTED, S.CANCELLED}),
    S.APPROVED: frozenset({S.PROVISIONING}),
    S.PROVISIONING: frozenset({S.ACTIVE, S.FAILED}),
    S.FAILED: frozenset({S.PROVISIONING}),
    S.ACTIVE: frozenset({S.SUPERSEDED, S.DECOMMISSIONING}),
    S.DECOMMISSIONING: frozenset({S.DECOMMISSIONED}),
    S.REJECTED: frozenset(),
    S.CANCELLED: frozenset(),
    S.SUPERSEDED: frozenset(),
    S.DECOMMISSIONED: frozenset(),
}

# A project's quota counts against region capacity while its request is in one of these.
GRANTED_STATES = frozenset({S.APPROVED, S.PROVISIONING, S.ACTIVE, S.FAILED, S.DECOMMISSIONING})
TERMINAL_STATES = frozenset(s for s, targets in TRANSITIONS.items() if not targets)


def check_transition(current: RequestState, target: RequestState) -> None:
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or Detail("none (final state)")
        raise InvalidTransition(
            Detail(
                "cannot go from {current} to {target}; allowed from {current}: {allowed}",
                current=current,
                target=target,
                allowed=allowed,
            ),
            current=current.value,
            target=target.value,
        )


class ProjectState(StrEnum):
    """Mirrors the request that currently defines the project."""

    PENDING = "pending"
    PROVISIONING = "provisioning"
    ACTIVE = "active"
    FAILED = "failed"
    DECOMMISSIONING = "decommissioning"
    DECOMMISSIONED = "decommissioned"


class OrganisationKind(StrEnum):
    AGENCY = "agency"
    BUSINESS = "business"


class Sector(StrEnum):
    """An organisation's sector of activity, which programmes may be open to."""

    AGRICULTURE = "agriculture"
    TEXTILES = "textiles"
    INDUSTRY = "industry"
    SERVICES = "services"
    TECHNOLOGY = "technology"
    COMMERCE = "commerce"
    TOURISM = "tourism"
    PUBLIC = "public"
    OTHER = "other"


class OrganisationStatus(StrEnum):
    PENDING_VERIFICATION = "pending_verification"
    VERIFIED = "verified"
    SUSPENDED = "suspended"


class MemberRole(StrEnum):
    MEMBER = "member"
    ADMIN = "admin"


class PlatformRole(StrEnum):
    APPROVER = "approver"
    OPERATOR = "operator"


class RegionStatus(StrEnum):
    OPEN = "open"
    DRAINING = "draining"
    CLOSED = "closed"
