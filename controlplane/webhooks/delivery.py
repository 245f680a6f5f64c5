"""Sending one stored delivery (the sahab.deliver_webhook task) and finding lost ones (reconcile).

An attempt is claimed in one short transaction (the row lock makes a duplicate task a no-op), made with
no transaction open, and recorded in another. While it runs, next_attempt_at is its lease: a worker that
dies mid-attempt leaves the delivery pending and due, and reconcile sends it again. The target is
checked again at every attempt (an allow-list entry removed since the URL was saved counts), and the
attempt has one total deadline and a cap on the answer read (http.py)."""

from __future__ import annotations

import json
import logging
import ssl
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpcore
from prometheus_client import Counter
from sqlalchemy.orm import Session, sessionmaker

from controlplane.errors import InvalidInput, WebhookTargetUnresolved
from controlplane.metering.alerts import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from controlplane.organisations import repository as organisations
from controlplane.persistence.database import after_commit, transaction
from controlplane.ports import Clock, TaskQueue
from controlplane.webhooks import http, repository
from controlplane.webhooks.service import CANCELLED, DELIVERED, FAILED, PENDING
from controlplane.webhooks.targets import TargetPolicy

log = logging.getLogger(__name__)
WEBHOOKS = Counter("sahab_alert_webhooks_total", "Webhook delivery attempts by outcome.", ["outcome"])
# Answers worth another attempt; any other non-2xx is the receiver refusing the alert.
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
EARLY_TOLERANCE = timedelta(seconds=1)  # a retry task's countdown may end a little before next_attempt_at


@dataclass(frozen=True)
class DeliveryRules:
    deadline_seconds: float = 5.0
    max_response_bytes: int = 64 * 1024
    attempts: int = 5
    backoff_seconds: float = 30.0
    retention: timedelta = timedelta(days=30)
    reconcile_grace: timedelta = timedelta(seconds=60)  # how late a task may be before reconcile resends it

    def backoff(self, attempt: int) -> float:
        return self.backoff_seconds * 2.0 ** (attempt - 1)


@dataclass(frozen=True)
class _Claim:
    delivery_id: str
    attempt: int
    url: str
    secret: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class _Outcome:
    delivered: bool
    retry: bool
    status: int | None
    error: str | None


class WebhookDeliverer:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock,
        queue: TaskQueue,
        targets: TargetPolicy,
        rules: DeliveryRules,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.queue = queue
        self.targets = targets
        self.rules = rules
        self.ssl_context = ssl_context

    def deliver(self, delivery_id: str) -> str:
        """One attempt if the delivery is pending and due; returns its state afterwards ('skipped' if not due)."""
        claim = self._claim(delivery_id)
        if isinstance(claim, str):
            return claim
        outcome = self._attempt(claim)
        return self._record(claim, outcome)

    def _claim(self, delivery_id: str) -> _Claim | str:
        with transaction(self.sessions) as session:
            delivery = repository.locked(session, delivery_id)
            now = self.clock.now()
            if delivery is None:
                return "skipped"
            if delivery.state != PENDING or (
                delivery.next_attempt_at and delivery.next_attempt_at > now + EARLY_TOLERANCE
            ):
                return "skipped"  # done, or a duplicate of a task whose attempt is in flight or not due yet
            organisation = organisations.get_one(session, delivery.organisation_id)
            if not organisation.alert_webhook_url or not organisation.alert_webhook_secret:
                delivery.state, delivery.updated_at, delivery.next_attempt_at = CANCELLED, now, None
                delivery.last_error = "the organisation removed its webhook"
                WEBHOOKS.labels("cancelled").inc()
                return CANCELLED
            delivery.attempts += 1
            # The lease of this attempt: past it (the worker died), reconcile sends the task again.
            delivery.next_attempt_at = now + timedelta(seconds=self.rules.deadline_seconds + 30)
            delivery.updated_at = now
            return _Claim(
                delivery.id,
                delivery.attempts,
                organisation.alert_webhook_url,
                organisation.alert_webhook_secret,
                dict(delivery.payload),
            )

    def _attempt(self, claim: _Claim) -> _Outcome:
        started = time.monotonic()
        try:
            target = self.targets.resolve(claim.url, timeout=self.rules.deadline_seconds)
        except WebhookTargetUnresolved as unresolved:
            return _Outcome(False, True, None, unresolved.detail)
        except InvalidInput as refused:  # WebhookTargetRefused, or a stored URL that no longer passes the rules
            return _Outcome(False, False, None, f"refused: {refused.detail}")
        timestamp = int(self.clock.now().timestamp())
        body = json.dumps(claim.payload, sort_keys=True, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(claim.secret, timestamp, body),
            DELIVERY_HEADER: claim.delivery_id,
        }
        left = self.rules.deadline_seconds - (time.monotonic() - started)
        try:
            if left <= 0:
                raise http.DeadlineExceeded("the delivery deadline passed while resolving")
            answer = http.post(
                target,
                body,
                headers,
                deadline_seconds=left,
                max_response_bytes=self.rules.max_response_bytes,
                ssl_context=self.ssl_context,
            )
        except httpcore.TimeoutException as timeout:
            return _Outcome(
                False, True, None, f"no complete answer within {self.rules.deadline_seconds:g}s ({timeout})"
            )
        except (httpcore.NetworkError, httpcore.ProtocolError, OSError) as failed:
            return _Outcome(False, True, None, f"{type(failed).__name__}: {failed}"[:500])
        if 200 <= answer.status < 300:
            return _Outcome(True, False, answer.status, None)
        excerpt = answer.body[:200].decode("utf-8", "replace")
        more = " (answer truncated)" if answer.truncated else ""
        return _Outcome(
            False, answer.status in RETRYABLE_STATUS, answer.status, f"HTTP {answer.status}: {excerpt}{more}"
        )

    def _record(self, claim: _Claim, outcome: _Outcome) -> str:
        with transaction(self.sessions) as session:
            delivery = repository.locked_one(session, claim.delivery_id)
            if delivery.state != PENDING or delivery.attempts != claim.attempt:
                return delivery.state  # re-sent by an admin meanwhile: that attempt owns the row now
            now = self.clock.now()
            delivery.last_status, delivery.last_error, delivery.updated_at = outcome.status, outcome.error, now
            if outcome.delivered:
                delivery.state, delivery.delivered_at, delivery.next_attempt_at = DELIVERED, now, None
            elif outcome.retry and claim.attempt < self.rules.attempts:
                delay = self.rules.backoff(claim.attempt)
                delivery.next_attempt_at = now + timedelta(seconds=delay)
                after_commit(session, lambda: self.queue.deliver_webhook(claim.delivery_id, delay))
            else:
                delivery.state, delivery.next_attempt_at = FAILED, None
                log.warning(
                    "webhook delivery %s failed after %d attempt(s): %s",
                    claim.delivery_id,
                    claim.attempt,
                    outcome.error,
                )
            WEBHOOKS.labels(delivery.state if delivery.state != PENDING else "retry").inc()
            return delivery.state

    def reconcile(self, limit: int = 500) -> list[str]:
        """Send again the tasks of pending deliveries overdue by more than the grace (lost on the way, or
        their worker died mid-attempt), and drop delivered and cancelled ones past the retention."""
        now = self.clock.now()
        with transaction(self.sessions) as session:
            overdue = repository.due_before(session, PENDING, now - self.rules.reconcile_grace, limit)
            repository.delete_settled_before(session, (DELIVERED, CANCELLED), now - self.rules.retention)
        for delivery_id in overdue:
            self.queue.deliver_webhook(delivery_id)
        if overdue:
            log.info("webhooks: %d overdue deliveries sent again", len(overdue))
        return overdue
