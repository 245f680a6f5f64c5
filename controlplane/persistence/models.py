"""Tables. Quota amounts are stored as JSON maps of resource name to amount:
the set of resources is fixed in code, and admission reads them under a region lock."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        from datetime import timezone

        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, dict[str, int]: JSON}


class RegionRow(Base):
    """One row per catalogue region: the lock that serialises admission in that region."""

    __tablename__ = "regions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    admissions: Mapped[int] = mapped_column(Integer, default=0)


class Organisation(Base):
    __tablename__ = "organisations"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    legal_name: Mapped[str] = mapped_column(String(200))
    national_id: Mapped[str] = mapped_column(String(64))
    contact_email: Mapped[str] = mapped_column(String(254))
    status: Mapped[str] = mapped_column(String(32))
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]
    # Usage alerts (80 % / 90 % of a quota) are POSTed here, signed with HMAC-SHA256 (0002).
    alert_webhook_url: Mapped[str | None] = mapped_column(String(2000))
    alert_webhook_secret: Mapped[str | None] = mapped_column(String(128))
    __table_args__ = (Index("uq_organisation_identity", "kind", "national_id", unique=True),)


class Membership(Base):
    __tablename__ = "memberships"
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    subject: Mapped[str] = mapped_column(String(255), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]


class Project(Base):
    __tablename__ = "projects"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    region_id: Mapped[str] = mapped_column(ForeignKey("regions.id"))
    environment: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(32))
    granted: Mapped[dict[str, int]] = mapped_column(default=dict)
    current_request_id: Mapped[str | None] = mapped_column(String(32))
    openstack_project_id: Mapped[str | None] = mapped_column(String(64))
    outputs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_usage: Mapped[dict[str, int] | None] = mapped_column(JSON)
    last_usage_at: Mapped[datetime | None]
    # A worker holds the lease while it runs an operation on this project's stack.
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # The last metering collection's error for this project; None once it was read (0002).
    metering_error: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (
        # One live project per organisation, region and environment; a decommissioned one frees the name.
        Index(
            "uq_live_project", "organisation_id", "region_id", "environment", unique=True,
            sqlite_where=text("state != 'decommissioned'"), postgresql_where=text("state != 'decommissioned'"),
        ),
    )


class QuotaRequest(Base):
    __tablename__ = "quota_requests"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    region_id: Mapped[str] = mapped_column(ForeignKey("regions.id"))
    environment: Mapped[str] = mapped_column(String(32))
    project_id: Mapped[str | None] = mapped_column(ForeignKey("projects.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # create | change
    amounts: Mapped[dict[str, int]]
    justification: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(32), index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    preview: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(index=True)
    updated_at: Mapped[datetime]


class RequestEvent(Base):
    __tablename__ = "request_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("quota_requests.id"), index=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(255))
    from_state: Mapped[str | None] = mapped_column(String(32))
    to_state: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    # Progress without a transition (e.g. a resource created) has no states.
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_records"
    caller: Mapped[str] = mapped_column(String(255), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    response_type: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime]


# -- metering (issue 6) -------------------------------------------------------
class UsageSample(Base):
    """What one collection read for one project: used and the quota seen on the cloud, per resource
    (JSON maps keyed by Sahab resource name, like Project.granted). Reports integrate these over time."""

    __tablename__ = "usage_samples"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    organisation_id: Mapped[str] = mapped_column(String(32))
    region_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    used: Mapped[dict[str, int]]
    quota: Mapped[dict[str, int]]
    __table_args__ = (
        Index("ix_usage_samples_project_at", "project_id", "at"),
        Index("ix_usage_samples_at", "at"),
    )


class ProjectMetering(Base):
    """The latest collection's view of one project, read by /metrics and /v1/drift (never the cloud)."""

    __tablename__ = "project_metering"
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), primary_key=True)
    measured_at: Mapped[datetime | None]
    quota: Mapped[dict[str, int] | None] = mapped_column(JSON)
    used: Mapped[dict[str, int] | None] = mapped_column(JSON)
    missing: Mapped[bool] = mapped_column(default=False)
    # [{kind, resource, granted, quota, used}] found by the latest successful read.
    drift: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    # Highest usage threshold (percent of quota) already announced per resource: {resource: 80|90}.
    notified: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    openstack_project_name: Mapped[str | None] = mapped_column(String(255))


class RegionMetering(Base):
    """Capacity and usage read from the region's Placement service by the latest collection."""

    __tablename__ = "region_metering"
    region_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    measured_at: Mapped[datetime | None]
    capacity: Mapped[dict[str, int] | None] = mapped_column(JSON)
    used: Mapped[dict[str, int] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    error_at: Mapped[datetime | None]


class MeteringRun(Base):
    __tablename__ = "metering_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime] = mapped_column(index=True)
    finished_at: Mapped[datetime]
    duration_seconds: Mapped[float]
    projects: Mapped[int] = mapped_column(Integer)
    failures: Mapped[int] = mapped_column(Integer)
    drifts: Mapped[int] = mapped_column(Integer)


class ProjectCredentials(Base):
    """The project user's clouds.yaml entry, sealed (Fernet) with the newest of
    SAHAB_CREDENTIALS_KEYS; captured by the worker when provisioning ends (0007)."""

    __tablename__ = "project_credentials"
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), primary_key=True)
    sealed: Mapped[str] = mapped_column(Text)
    captured_at: Mapped[datetime]
