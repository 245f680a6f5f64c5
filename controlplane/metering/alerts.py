"""Usage alerts to an organisation's webhook when a project's usage passes 80 % and 90 % of a quota.

A threshold is announced once per crossing: the level announced is kept per project and resource
(ProjectMetering.notified) and lowered again when usage falls, so a later rise announces again.
The body is signed: X-Sahab-Signature = "sha256=" + HMAC-SHA256(secret, f"{timestamp}.{body}"),
with the Unix timestamp of the attempt in X-Sahab-Timestamp (receivers should refuse old timestamps)
and the delivery id in X-Sahab-Delivery (the same on every attempt: receivers drop duplicates by it).
Delivery itself (checks, deadline, retries) is controlplane.webhooks'."""

from __future__ import annotations

import hashlib
import hmac

THRESHOLDS = (80, 90)
SIGNATURE_HEADER = "X-Sahab-Signature"
TIMESTAMP_HEADER = "X-Sahab-Timestamp"
DELIVERY_HEADER = "X-Sahab-Delivery"


def level(used: int, quota: int) -> int:
    """The highest threshold (percent) usage has reached, 0 for none; unlimited (-1) and 0 quotas never alert."""
    if quota <= 0:
        return 0
    percent = 100.0 * used / quota
    return max((t for t in THRESHOLDS if percent >= t), default=0)


def crossings(
    notified: dict[str, int], quota: dict[str, int], used: dict[str, int]
) -> tuple[dict[str, int], list[tuple[str, int]]]:
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
