"""API-facing operations on an organisation's webhook (its admins only; other organisations answer 404),
and the hand-off from the metering collection: alerts become stored deliveries, sent after commit."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from controlplane.access import require_organisation
from controlplane.domain.principal import Principal
from controlplane.errors import Conflict, Detail, NotFound
from controlplane.pagination import Page
from controlplane.persistence.database import after_commit
from controlplane.persistence.models import Organisation, WebhookDelivery, new_id
from controlplane.ports import Alert, Clock, TaskQueue
from controlplane.webhooks import repository
from controlplane.webhooks.targets import TargetPolicy

PENDING, DELIVERED, FAILED, CANCELLED = "pending", "delivered", "failed", "cancelled"
SIGNATURE_RULE = "X-Sahab-Signature: sha256=HMAC-SHA256(secret, '<X-Sahab-Timestamp>.<body>')"


def _admin_of(session: Session, principal: Principal, organisation_id: str) -> Organisation:
    return require_organisation(session, principal, organisation_id, admin=True, operator_override=False)


def set_webhook(
    session: Session, targets: TargetPolicy, principal: Principal, organisation_id: str, url: str | None
) -> dict[str, Any]:
    """Set (a new secret, shown once) or remove (url None) the webhook. The URL is checked before any row is
    read, so the name is not resolved while the transaction holds a lock; it is checked again at every delivery."""
    if url is not None:
        targets.resolve(url)
    organisation = _admin_of(session, principal, organisation_id)
    if url is None:
        organisation.alert_webhook_url = organisation.alert_webhook_secret = None
        return {"organisation_id": organisation.id, "url": None, "secret": None}
    organisation.alert_webhook_url = url
    organisation.alert_webhook_secret = secrets.token_urlsafe(32)
    return {
        "organisation_id": organisation.id,
        "url": url,
        "secret": organisation.alert_webhook_secret,
        "signature": SIGNATURE_RULE,
    }


def get_webhook(session: Session, principal: Principal, organisation_id: str) -> dict[str, Any]:
    organisation = _admin_of(session, principal, organisation_id)
    return {"organisation_id": organisation.id, "url": organisation.alert_webhook_url, "secret": None}


def list_deliveries(
    session: Session,
    principal: Principal,
    organisation_id: str,
    cursor: str | None,
    limit: int,
    state: str | None = None,
) -> Page[WebhookDelivery]:
    """Oldest first, like the other lists; `state=failed` shows the ones that need a decision."""
    _admin_of(session, principal, organisation_id)
    return repository.page_visible(session, principal, organisation_id, cursor, limit, state)


def resend(
    session: Session, clock: Clock, queue: TaskQueue, principal: Principal, organisation_id: str, delivery_id: str
) -> WebhookDelivery:
    """A failed (or cancelled) delivery starts again with all its attempts, to the webhook as it is now."""
    organisation = _admin_of(session, principal, organisation_id)
    delivery = repository.get_visible(session, principal, organisation.id, delivery_id, for_update=True)
    if delivery is None:
        raise NotFound(Detail("delivery {delivery_id} not found", delivery_id=delivery_id))
    if delivery.state not in (FAILED, CANCELLED):
        raise Conflict(
            Detail(
                "delivery {delivery_id} is {delivery_state}; only a failed or cancelled one can be re-sent",
                delivery_id=delivery_id,
                delivery_state=delivery.state,
            )
        )
    if not organisation.alert_webhook_url:
        raise Conflict(
            Detail("organisation {organisation_id} has no webhook; set one first", organisation_id=organisation.id)
        )
    now = clock.now()
    delivery.state, delivery.attempts, delivery.next_attempt_at, delivery.updated_at = PENDING, 0, now, now
    delivery.last_status = delivery.last_error = None
    session.flush()
    after_commit(session, lambda: queue.deliver_webhook(delivery_id))
    return delivery


def enqueue_alerts(session: Session, queue: TaskQueue, alerts: list[Alert], now: datetime) -> list[str]:
    """Store one pending delivery per alert in the caller's transaction; send their tasks once it commits.
    A task lost on the way (broker down) is sent again by WebhookDeliverer.reconcile."""
    ids = []
    for alert in alerts:
        delivery = WebhookDelivery(
            id=new_id("whd"),
            organisation_id=alert.organisation_id,
            payload=alert.payload,
            state=PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )
        repository.add(session, delivery)
        ids.append(delivery.id)
    session.flush()
    for delivery_id in ids:
        after_commit(session, lambda delivery_id=delivery_id: queue.deliver_webhook(delivery_id))  # type: ignore[misc]
    return ids


class WebhookOutbox:
    """The metering collection's Notifier: alerts become deliveries in its transaction."""

    def __init__(self, queue: TaskQueue) -> None:
        self.queue = queue

    def enqueue(self, session: Session, alerts: list[Alert], now: datetime) -> None:
        enqueue_alerts(session, self.queue, alerts, now)
