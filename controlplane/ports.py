"""The ports: what the core asks of the world outside it, each as a protocol, with the values that cross them.

The real adapters (Celery, the Pulumi runner, openstacksdk, SMTP, the webhook outbox, the system
clock) and the fakes in unit tests satisfy them by shape; services and workflows name only these.
The composition roots (controlplane.composition) choose the adapters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session

from controlplane.contract import ProgressCallback, TenantOutputs, TenantSpec
from controlplane.domain.regions import Region

# -- the values that cross the ports -------------------------------------------------------------


GIB = 1024**3


@dataclass(frozen=True)
class ProjectReading:
    """Quota and usage of one OpenStack project, keyed by Sahab resource name (-1 = unlimited)."""

    quota: dict[str, int]
    used: dict[str, int]


@dataclass(frozen=True)
class CapacityReading:
    """What Placement says the region's compute providers offer: (total - reserved) x allocation ratio."""

    capacity: dict[str, int]
    used: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ObjectAccount:
    """One project's Swift account as its HEAD reports it (no API lists accounts in bulk)."""

    quota_bytes: int  # X-Account-Meta-Quota-Bytes; -1 = none set
    bytes: int
    objects: int
    containers: int

    @property
    def quota_gib(self) -> int:
        """In Sahab's unit; a quota that is no whole number of GiB (set by hand) reads as -1 (drift)."""
        return self.quota_bytes // GIB if self.quota_bytes >= 0 and self.quota_bytes % GIB == 0 else -1

    @property
    def used_gib(self) -> int:
        """Rounded up: an account holding any byte uses some of its quota (and cannot be decommissioned)."""
        return -(-self.bytes // GIB) if self.bytes else (1 if self.objects else 0)


Usage = dict[str, dict[str, int]]
"""OpenStack project id -> {Sahab resource: amount in use}; a project absent from it uses nothing."""


@dataclass(frozen=True)
class BulkQuotas:
    """Quotas a service lists for every project at once (Neutron): the projects with quotas of
    their own, and the defaults that hold for any other project."""

    by_project: dict[str, dict[str, int]]
    default: dict[str, int]

    def of(self, openstack_project_id: str) -> dict[str, int]:
        return dict(self.by_project.get(openstack_project_id, self.default))


@dataclass(frozen=True)
class Alert:
    organisation_id: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class Message:
    to: str
    subject: str
    body: str


# -- the ports -----------------------------------------------------------------------------------


class Clock(Protocol):
    """Time, injectable so that workflows and leases are tested without sleeping."""

    def now(self) -> datetime: ...


class TaskQueue(Protocol):
    """How services ask for background work. Sent only after the transaction commits
    (persistence.database.after_commit), and carrying ids only: the task reloads state."""

    def provision(self, request_id: str) -> None: ...

    def decommission(self, project_id: str) -> None: ...

    def preview(self, request_id: str) -> None: ...

    def repair(self, project_id: str) -> None: ...

    def deliver_webhook(self, delivery_id: str, delay_seconds: float = 0) -> None: ...

    def capture_credentials(self, project_id: str) -> None:
        """A worker reads the credentials of a project provisioned before they were stored."""
        ...


class Provisioner(Protocol):
    """The provisioning boundary: the core asks for a tenant to exist, a provisioner makes it so.

    Implementations must be idempotent: `apply` for a spec that already exists converges instead
    of creating twice, so a redelivered task is harmless. `password` is the project user's password
    Sahab holds (decrypted from the database) or None when it holds none yet; the provisioner then
    keeps the one the stack already has, or makes one. Outputs carry the password so the core can
    store it."""

    name: str

    def check_available(self) -> None:
        """Raise ProvisionerUnavailable with the reason when nothing can be provisioned now."""

    def warm_up(self) -> None:
        """Pay one-off start-up costs before the first operation (a worker process calls it once)."""

    def apply(
        self, spec: TenantSpec, progress: ProgressCallback, password: str | None = None, refresh: bool = False
    ) -> TenantOutputs:
        """`refresh`: read the cloud first, so that changes made outside Sahab (drift) are undone."""
        ...

    def preview(self, spec: TenantSpec, password: str | None = None) -> dict[str, Any]: ...

    def destroy(self, spec: TenantSpec, progress: ProgressCallback, password: str | None = None) -> None: ...

    def outputs(self, spec: TenantSpec) -> TenantOutputs | None:
        """The outputs of the last completed apply, the password included (never log them); None
        when the tenant was never provisioned."""
        ...


class CloudReader(Protocol):
    """What a collection reads from one region. Usage and Neutron quotas come from a few listings
    of all projects; Nova and Cinder quotas, which no API lists in bulk, one project at a time."""

    def projects(self, domain_id: str) -> dict[str, str]:
        """The OpenStack projects that exist in the domain: id -> name (one listing per collection)."""
        ...

    def read_usage(self, listing: str) -> Usage:
        """One of controlplane.metering.reader.LISTINGS (by name), summed per project."""
        ...

    def read_bulk_quotas(self) -> BulkQuotas:
        """The quotas listed for all projects at once (Neutron's), keyed by Sahab resource."""
        ...

    def read_quota(self, openstack_project_id: str) -> dict[str, int]:
        """One project's quotas that are not listed in bulk (Nova's and Cinder's), without usage."""
        ...

    def read_object_account(self, openstack_project_id: str) -> ObjectAccount:
        """One project's Swift account (regions with object storage only): one HEAD."""
        ...

    def read_capacity(self) -> CapacityReading: ...


ReaderFactory = Callable[[Region], CloudReader]


class Mailer(Protocol):
    """E-mail (controlplane.mail: SMTP, or nothing when no server is set). Sent outside any transaction."""

    #: False when nothing is really sent (the null mailer): callers record the message as skipped.
    delivers: bool

    def send(self, message: Message) -> None: ...


class Notifier(Protocol):
    """Where the collection hands its alerts, inside its transaction (controlplane.webhooks.service.WebhookOutbox:
    stored as deliveries and sent by their own task after commit, so a slow receiver delays no collection)."""

    def enqueue(self, session: Session, alerts: list[Alert], now: datetime) -> None: ...
