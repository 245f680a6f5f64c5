"""Who is calling: built by the API edge from a verified token, used by every service."""

from __future__ import annotations

from dataclasses import dataclass, field

from controlplane.domain.states import MemberRole, PlatformRole


@dataclass(frozen=True)
class Principal:
    subject: str
    issuer: str = ""
    name: str | None = None
    email: str | None = None
    platform_roles: frozenset[PlatformRole] = frozenset()
    # Organisation roles carried by the token itself (e.g. an agency's automation client);
    # memberships stored in the database are looked up separately.
    claimed_organisations: dict[str, MemberRole] = field(default_factory=dict)

    @property
    def is_approver(self) -> bool:
        return PlatformRole.APPROVER in self.platform_roles

    @property
    def is_operator(self) -> bool:
        return PlatformRole.OPERATOR in self.platform_roles

    @property
    def is_staff(self) -> bool:
        """Approvers and operators see every organisation's objects."""
        return bool(self.platform_roles)

    @property
    def key(self) -> str:
        """Scopes per-caller records such as idempotency keys."""
        return f"{self.issuer}|{self.subject}"

    @property
    def label(self) -> str:
        return self.name or self.subject
