"""Usage alerts to an organisation's webhook when a project's usage passes 80 % and 90 % of a quota.

A threshold is announced once per crossing: the level announced is kept per project and resource
(ProjectMetering.notified) and lowered again when usage falls, so a later rise announces again.
The body is signed: X-Sahab-Signature = "sha256=" + HMAC-SHA256(secret, f"{timestamp}.{body}"),
with the Unix timestamp in X-Sahab-Timestamp (receivers should refuse old timestamps)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

from prometheus_client import Counter

log = logging.getLogger(__name__)
THRESHOLDS = (80, 90)
SIGNATURE_HEADER = "X-Sahab-Signature"
TIMESTAMP_HEADER = "X-Sahab-Timestamp"

WEBHOOKS = Counter("sahab_alert_webhooks_total", "Usage alert webhooks sent to organisations.", ["outcome"])


def level(used: int, quota: int) -> int:
    """The highest threshold (percent) usage has reached, 0 for none; unlimited (-1) and 0 quotas never alert."""
    if quota <= 0:
        return 0
    percent = 100.0 * used / quota
    return max((t for t in THRESHOLDS if percent >= t), default=0)


def crossings(notified: dict[str, int], quota: dict[str, int], used: dict[str, int]) -> tuple[dict[str, int], list[tuple[str, int]]]:
    """(new notified map, [(resource, threshold) to announce])."""
    updated, announce = dict(notified), []
    for resource, limit in quota.items():
        now = level(used.get(resource, 0), limit)
        before = notified.get(resource, 0)
        if now > before:
            announce.append((resource, now))
        if now != before:
            updated[resource] = now
    return {k: v for k, v in updated.items() if v}, announce


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, int(timestamp), body), signature)


@dataclass(frozen=True)
class Alert:
    url: str
    secret: str
    payload: dict[str, Any]


class Notifier(Protocol):
    def send(self, alert: Alert, timestamp: int) -> None: ...


class HttpNotifier:
    """POSTs each alert; a connection error or a 5xx/429 answer is retried with backoff
    (the same signed body, so receivers can drop duplicates by timestamp and payload)."""

    def __init__(self, timeout: float = 5.0, attempts: int = 3, backoff: float = 1.0) -> None:
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff

    def send(self, alert: Alert, timestamp: int) -> None:
        import httpx

        body = json.dumps(alert.payload, sort_keys=True, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: str(timestamp),
                   SIGNATURE_HEADER: sign(alert.secret, timestamp, body), "User-Agent": "sahab-alerts/0.1"}
        for attempt in range(1, self.attempts + 1):
            try:
                response = httpx.post(alert.url, content=body, headers=headers, timeout=self.timeout)
                if response.status_code < 500 and response.status_code != 429:
                    response.raise_for_status()  # other 4xx: the receiver refuses it; retrying will not help
                    WEBHOOKS.labels("success").inc()
                    return
                error: Exception = httpx.HTTPStatusError(f"HTTP {response.status_code}", request=response.request, response=response)
            except httpx.HTTPStatusError as refused:
                log.warning("usage alert to %s refused: %s", alert.url, refused)
                break
            except httpx.HTTPError as failed:  # an organisation's endpoint being down must not stop metering
                error = failed
            if attempt < self.attempts:
                time.sleep(self.backoff * 2 ** (attempt - 1))
        else:
            log.warning("usage alert to %s failed after %d attempts: %s", alert.url, self.attempts, error)
        WEBHOOKS.labels("failure").inc()
