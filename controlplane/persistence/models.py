"""Tables. Quota amounts are stored as JSON maps of resource name to amount:
the set of resources is fixed in code, and admission reads them under a region lock."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Date, DateTime, ForeignKey, Index, Integer, Numeric, String, Text, text
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

        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
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
    # The profile programmes are judged on, given at registration and updatable by its admins (0011);
    # an operator's verification covers it (profile_verified_at), and an update clears it until checked again.
    sector: Mapped[str | None] = mapped_column(String(32))
    employees: Mapped[int | None] = mapped_column(Integer)
    founded_on: Mapped[date | None] = mapped_column(Date)
    profile_verified_at: Mapped[datetime | None]
    __table_args__ = (
        # A national ID belongs to one VERIFIED organisation; unverified registrations may share it,
        # so a squatter cannot lock the real owner out or learn which IDs exist (0006).
        Index(
            "uq_verified_organisation_identity",
            "kind",
            "national_id",
            unique=True,
            sqlite_where=text("status = 'verified'"),
            postgresql_where=text("status = 'verified'"),
        ),
    )


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
    # The programme whose reserve funds this project's grant; None: the general pool (0011).
    programme_id: Mapped[str | None] = mapped_column(String(64))
    __table_args__ = (
        # One live project per organisation, region and environment; a decommissioned one frees the name.
        Index(
            "uq_live_project",
            "organisation_id",
            "region_id",
            "environment",
            unique=True,
            sqlite_where=text("state != 'decommissioned'"),
            postgresql_where=text("state != 'decommissioned'"),
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


# -- metering -------------------------------------------------------
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
    # The project's name in Keystone, as the latest collection read it (the `tenant` metric label).
    openstack_project_name: Mapped[str | None] = mapped_column(String(255))
    # When its Nova and Cinder quotas were last read (metering/schedule.py) (0009).
    quota_checked_at: Mapped[datetime | None]


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


# -- webhook deliveries ---------------------------------------------
class WebhookDelivery(Base):
    """One alert to an organisation's webhook, sent by the sahab.deliver_webhook task and retried with backoff.
    state: pending (due at next_attempt_at, which is also the lease of an attempt in flight) | delivered |
    failed (every attempt failed, or the receiver refused it; kept for the admins, who may re-send it) |
    cancelled (the webhook was removed before it could be sent)."""

    __tablename__ = "webhook_deliveries"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    payload: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    __table_args__ = (
        Index("ix_webhook_deliveries_organisation", "organisation_id", "created_at", "id"),
        Index("ix_webhook_deliveries_due", "state", "next_attempt_at"),
    )


# -- housekeeping (0008) ----------------------------------------------
# Idempotency records are purged by age (api/idempotency.py): one indexed DELETE.
Index("ix_idempotency_records_created_at", IdempotencyRecord.created_at)


# -- built-in issuer (api/issuer/, migration 0004) ------------------------------
# Secrets (device codes, authorization codes, refresh tokens) are stored as SHA-256 digests:
# a copy of the database does not sign anyone in.
class IssuerDeviceGrant(Base):
    """A pending device sign-in (RFC 8628), shared by every API process."""

    __tablename__ = "issuer_device_grants"
    device_code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_code: Mapped[str] = mapped_column(String(16), unique=True)
    client_id: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(index=True)
    interval: Mapped[int] = mapped_column(Integer)
    last_poll_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16))  # pending | approved | denied
    subject: Mapped[str | None] = mapped_column(String(255))


class IssuerAuthorizationCode(Base):
    """An authorization code (RFC 6749 4.1) with its PKCE challenge; used once."""

    __tablename__ = "issuer_authorization_codes"
    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    redirect_uri: Mapped[str] = mapped_column(String(2000))
    scope: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(255))
    code_challenge: Mapped[str] = mapped_column(String(128))
    code_challenge_method: Mapped[str] = mapped_column(String(8))
    expires_at: Mapped[datetime] = mapped_column(index=True)
    # Kept, once used, until it expires: a second use revokes the refresh tokens the first one got.
    used_at: Mapped[datetime | None]
    family_id: Mapped[str | None] = mapped_column(String(32))


class IssuerRefreshToken(Base):
    """One refresh token of a family (one sign-in). Rotated on use; a rotated one used again revokes the family."""

    __tablename__ = "issuer_refresh_tokens"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    family_id: Mapped[str] = mapped_column(String(32), index=True)
    client_id: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(255))
    scope: Mapped[str] = mapped_column(String(200))
    issued_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    family_expires_at: Mapped[datetime]
    rotated_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class IssuerThrottle(Base):
    """A fixed-window counter with an optional lockout, per key (client, address or account)."""

    __tablename__ = "issuer_throttles"
    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    window_started_at: Mapped[datetime]
    hits: Mapped[int] = mapped_column(Integer)
    strikes: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    expires_at: Mapped[datetime] = mapped_column(index=True)


# -- running totals --------------------------------------------------
class RegionTotals(Base):
    """What is granted in a region, kept beside the grants so that admission, /v1/regions and
    /metrics never sum the projects: JSON maps of resource name to amount over live (not
    decommissioned) projects, for all organisations and for businesses only. Its row is the region's
    admission lock; every change to a live project's grant moves it in the same transaction (0003)."""

    __tablename__ = "region_totals"
    region_id: Mapped[str] = mapped_column(ForeignKey("regions.id"), primary_key=True)
    granted: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    granted_business: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    # {programme: {resource: amount}} funded from each programme's reserve; businesses' programme
    # grants are in `granted` but not in `granted_business`, which is the general pool's (0011).
    granted_programmes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ProjectCredentials(Base):
    """The project user's clouds.yaml entry, sealed (Fernet) with the newest of
    SAHAB_CREDENTIALS_KEYS; captured by the worker when provisioning ends (0007)."""

    __tablename__ = "project_credentials"
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), primary_key=True)
    sealed: Mapped[str] = mapped_column(Text)
    captured_at: Mapped[datetime]


# -- billing (0012): statements, their numbering, budgets (controlplane/billing/) --------
# Amounts are decimal strings ("123.45"): exact on both databases (SQLite has no exact numeric type).
class Statement(Base):
    """A monthly statement of one organisation (its lines grouped per project), or a credit note.
    kind: statement | credit_note. state: draft (the month is running; refreshed, never numbered) |
    issued (frozen and numbered) | corrected (a credit note cancels it; its figures are never edited)."""

    __tablename__ = "statements"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    period: Mapped[str] = mapped_column(String(7))  # YYYY-MM (UTC)
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    number: Mapped[str | None] = mapped_column(String(32), unique=True)
    currency: Mapped[str] = mapped_column(String(8))
    price_versions: Mapped[list[str]] = mapped_column(JSON, default=list)
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    list_total: Mapped[str] = mapped_column(String(40))
    discount_total: Mapped[str] = mapped_column(String(40))
    total: Mapped[str] = mapped_column(String(40))
    # A credit note names the statement it cancels; a replacement names the statement it replaces.
    corrects_id: Mapped[str | None] = mapped_column(ForeignKey("statements.id"))
    replaces_id: Mapped[str | None] = mapped_column(ForeignKey("statements.id"))
    corrected_by_id: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    computed_at: Mapped[datetime]
    issued_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    __table_args__ = (
        Index("ix_statements_organisation_period", "organisation_id", "period"),
        # One current statement per organisation and month: a draft, or the issued one (a corrected
        # statement gives way to its replacement).
        Index(
            "uq_current_statement",
            "organisation_id",
            "period",
            unique=True,
            sqlite_where=text("kind = 'statement' AND state != 'corrected'"),
            postgresql_where=text("kind = 'statement' AND state != 'corrected'"),
        ),
    )


class StatementSequence(Base):
    """The last number issued in a year: taken under this row's lock in the issuing transaction, so
    numbers have no gaps (a rolled-back issue gives its number back) and no duplicates."""

    __tablename__ = "statement_sequences"
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(Integer, default=0)


class Budget(Base):
    """An organisation's monthly budget, in its price-list currency; alerts at 80 % and 100 % once a month."""

    __tablename__ = "budgets"
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    amount: Mapped[str] = mapped_column(String(40))
    currency: Mapped[str] = mapped_column(String(8))
    block_increases: Mapped[bool] = mapped_column(default=False)
    # The month whose alerts were sent, and the highest threshold sent in it (0, 80 or 100).
    alerted_period: Mapped[str | None] = mapped_column(String(7))
    alerted_threshold: Mapped[int] = mapped_column(Integer, default=0)
    updated_by: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[datetime]


# -- programmes (0011) ---------------------------------------------------------
LIVE_ENROLMENT = "state IN ('pending', 'enrolled', 'expired', 'shrinking')"


class ProgrammeEnrolment(Base):
    """An organisation's application to a programme, and its enrolment once accepted.
    state: pending (an approver decides) | rejected | enrolled (starts_at..ends_at) | expired (past ends_at,
    waiting for the choice or the grace period) | continued (funding moved to the general pool at the normal
    price) | shrinking (decrease requests made) | ended. Every decision has its reason."""

    __tablename__ = "programme_enrolments"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    programme_id: Mapped[str] = mapped_column(String(64), index=True)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str] = mapped_column(Text)
    applied_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]  # when it applied
    decided_by: Mapped[str | None] = mapped_column(String(255))
    decided_at: Mapped[datetime | None]
    starts_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None] = mapped_column(index=True)
    # The programme's price when it was enrolled (percent off the price list; 100: free), kept for billing.
    percent_off: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    # At expiry: continue (normal price) | shrink (to the normal envelope); None until chosen.
    choice: Mapped[str | None] = mapped_column(String(16))
    chosen_by: Mapped[str | None] = mapped_column(String(255))
    chosen_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]

    @property
    def end(self) -> datetime:
        """When an enrolment that was granted ends (set with starts_at when it was enrolled)."""
        if self.ends_at is None:
            raise ValueError(f"enrolment {self.id} was never enrolled: it has no end")
        return self.ends_at

    __table_args__ = (
        # One live enrolment (or application) per organisation at a time, whatever the programme.
        Index(
            "uq_live_enrolment",
            "organisation_id",
            unique=True,
            sqlite_where=text(LIVE_ENROLMENT),
            postgresql_where=text(LIVE_ENROLMENT),
        ),
    )


class ProgrammeNotice(Base):
    """One expiry notice (30, 7 or 1 days before), written once (its primary key), with the webhook
    delivery it made and its e-mail's sending state: pending (due at email_next_attempt_at, also the
    lease of an attempt in flight) | sent | failed | none (no address to send to)."""

    __tablename__ = "programme_notices"
    enrolment_id: Mapped[str] = mapped_column(ForeignKey("programme_enrolments.id"), primary_key=True)
    days_before: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime]
    delivery_id: Mapped[str | None] = mapped_column(String(32))
    email_to: Mapped[str | None] = mapped_column(String(254))
    email_state: Mapped[str] = mapped_column(String(16), index=True)
    email_attempts: Mapped[int] = mapped_column(Integer, default=0)
    email_next_attempt_at: Mapped[datetime | None]
    email_sent_at: Mapped[datetime | None]
    email_error: Mapped[str | None] = mapped_column(Text)
