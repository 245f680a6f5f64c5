"""Idempotency-Key on POST: replay, reuse with another body, concurrent duplicates, caller scope."""

from __future__ import annotations

from datetime import UTC, datetime

from api.idempotency import caller_key
from controlplane.domain.principal import Principal
from controlplane.persistence.database import transaction
from controlplane.persistence.models import IdempotencyRecord, QuotaRequest
from tests.support.api import org_with_admin


def body(org: str, env: str = "prod") -> dict:
    return {
        "organisation_id": org,
        "region": "rabat-1",
        "environment": env,
        "preset": "small",
        "justification": "idempotent",
    }


def count_requests(runtime) -> int:
    with transaction(runtime.sessions) as session:
        return session.query(QuotaRequest).count()


def test_replay_returns_the_first_response_and_creates_nothing(client, runtime, issuer, queue):
    org = org_with_admin(runtime, "amina")
    headers = {**issuer.headers("amina"), "Idempotency-Key": "k-1"}
    first = client.post("/v1/quota-requests", headers=headers, json=body(org))
    again = client.post("/v1/quota-requests", headers=headers, json=body(org))
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert count_requests(runtime) == 1
    assert queue.provisioned == [first.json()["id"]]


def test_same_key_with_another_body_is_422(client, runtime, issuer):
    org = org_with_admin(runtime, "amina")
    headers = {**issuer.headers("amina"), "Idempotency-Key": "k-2"}
    client.post("/v1/quota-requests", headers=headers, json=body(org))
    response = client.post("/v1/quota-requests", headers=headers, json=body(org, env="other"))
    assert response.status_code == 422
    assert response.json()["type"] == "urn:sahab:problem:idempotency-key-reused"
    assert count_requests(runtime) == 1


def test_a_duplicate_while_the_first_is_running_is_409(client, runtime, issuer):
    org = org_with_admin(runtime, "amina")
    principal_key = caller_key(Principal(subject="amina", issuer=issuer.url))
    payload = body(org)
    import hashlib
    import json

    raw = json.dumps(payload).encode()
    # The first request claimed the key and has not answered yet.
    fingerprint = hashlib.sha256(b"POST /v1/quota-requests\n" + raw).hexdigest()
    with transaction(runtime.sessions) as session:
        session.add(
            IdempotencyRecord(caller=principal_key, key="k-3", fingerprint=fingerprint, created_at=datetime.now(UTC))
        )
    response = client.post(
        "/v1/quota-requests",
        headers={**issuer.headers("amina"), "Idempotency-Key": "k-3", "Content-Type": "application/json"},
        content=raw,
    )
    assert response.status_code == 409
    assert response.json()["type"] == "urn:sahab:problem:idempotency-in-progress"
    assert count_requests(runtime) == 0


def test_keys_are_scoped_to_the_caller(client, runtime, issuer):
    mine, theirs = org_with_admin(runtime, "amina"), org_with_admin(runtime, "youssef")
    a = client.post(
        "/v1/quota-requests", headers={**issuer.headers("amina"), "Idempotency-Key": "shared"}, json=body(mine)
    )
    b = client.post(
        "/v1/quota-requests", headers={**issuer.headers("youssef"), "Idempotency-Key": "shared"}, json=body(theirs)
    )
    assert a.status_code == b.status_code == 201 and a.json()["id"] != b.json()["id"]


def test_an_error_answer_is_replayed_too(client, runtime, issuer):
    org = org_with_admin(runtime, "amina")
    headers = {**issuer.headers("amina"), "Idempotency-Key": "k-4"}
    payload = {**body(org), "region": "atlantis-1"}
    first = client.post("/v1/quota-requests", headers=headers, json=payload)
    again = client.post("/v1/quota-requests", headers=headers, json=payload)
    assert first.status_code == again.status_code == 404
    assert again.json() == first.json()


def test_records_past_the_retention_are_purged_on_the_next_claim(client, runtime, issuer):
    from datetime import timedelta

    now = datetime.now(UTC)
    with transaction(runtime.sessions) as session:
        session.add(
            IdempotencyRecord(
                caller="c" * 64, key="old", fingerprint="f", status_code=201, created_at=now - timedelta(hours=25)
            )
        )
        session.add(
            IdempotencyRecord(
                caller="c" * 64, key="young", fingerprint="f", status_code=201, created_at=now - timedelta(hours=23)
            )
        )
    org = org_with_admin(runtime, "amina")
    response = client.post(
        "/v1/quota-requests", headers={**issuer.headers("amina"), "Idempotency-Key": "new"}, json=body(org)
    )
    assert response.status_code == 201
    with transaction(runtime.sessions) as session:
        assert sorted(r.key for r in session.query(IdempotencyRecord)) == ["new", "young"]
