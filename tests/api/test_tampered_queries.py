"""Tampered query values and oversized identities get a precise 4xx problem, never a 500, and
store nothing; page sizes follow the operator's settings. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth.verifier import TokenVerifier
from controlplane.persistence.database import transaction
from controlplane.persistence.models import IdempotencyRecord, QuotaRequest
from tests.support.api import create_request, org_with_admin


def cursor_of(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def nested_cursor(depth: int = 5_000) -> str:
    return base64.urlsafe_b64encode(b"[" * depth + b"]" * depth).decode().rstrip("=")


def assert_problem(response, status: int, *words: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    for word in words:
        assert word in problem["detail"], problem
    return problem


def stored(runtime, model) -> int:
    with transaction(runtime.sessions) as session:
        return session.query(model).count()


@pytest.mark.parametrize("path", ["/v1/organisations", "/v1/quota-requests", "/v1/projects"])
@pytest.mark.parametrize(
    "cursor,why",
    [
        (cursor_of(["2026-11-01T10:00:00", "org_x"]), "no offset"),
        (cursor_of(["2026-11-01T10:00:00+00:00", 5]), "invalid cursor"),
        (cursor_of(["9999-12-31T23:59:59-05:00", "x"]), "invalid cursor"),
        ("not base64 at all!", "invalid cursor"),
    ],
    ids=["naive-datetime", "number-id", "year-9999-offset", "garbage"],
)
def test_tampered_cursors_are_422(client, issuer, path, cursor, why):
    response = client.get(path, params={"cursor": cursor}, headers=issuer.headers("salma", roles=("operator",)))
    assert_problem(response, 422, why)


def test_a_deeply_nested_cursor_is_422_not_a_recursion_error(client, issuer):
    for cursor in (nested_cursor(), nested_cursor(200)):
        response = client.get("/v1/organisations", params={"cursor": cursor}, headers=issuer.headers("amina"))
        assert_problem(response, 422, "cursor")


@pytest.mark.parametrize(
    "query,parameter",
    [
        ({"to": "0001-01-05"}, "to"),
        ({"from": "0001-01-01", "to": "0001-01-05"}, "to"),
        ({"to": "9999-12-31T23:00:00-05:00"}, "to"),
        ({"from": "9999-12-31T20:00:00-10:00"}, "from"),
        ({"to": "12026-01-01"}, "to"),
    ],
    ids=["year-1", "year-1-both", "year-9999-offset", "from-9999-offset", "year-12026"],
)
def test_usage_periods_outside_the_calendar_are_422(client, issuer, query, parameter):
    response = client.get("/v1/usage", params=query, headers=issuer.headers("amina"))
    problem = assert_problem(response, 422, parameter)
    assert problem["parameter"] == parameter


def test_events_after_past_64_bits_is_422(client, runtime, issuer):
    org = org_with_admin(runtime, "amina")
    request = create_request(client, issuer.headers("amina"), org)
    for after in (2**31, 2**63, 10**30):
        response = client.get(
            f"/v1/quota-requests/{request['id']}/events", params={"after": after}, headers=issuer.headers("amina")
        )
        assert_problem(response, 422, "after")
    largest = client.get(
        f"/v1/quota-requests/{request['id']}/events", params={"after": 2**31 - 1}, headers=issuer.headers("amina")
    )
    assert largest.status_code == 200 and largest.json() == []


def test_a_240_character_subject_with_an_idempotency_key_works_and_replays(client, runtime, issuer):
    subject = "u" * 240  # with the issuer URL, longer than the 255-character key column
    org = org_with_admin(runtime, subject)
    headers = {**issuer.headers(subject), "Idempotency-Key": "k" * 255}
    body = {
        "organisation_id": org,
        "region": "rabat-1",
        "environment": "prod",
        "preset": "small",
        "justification": "long subject",
    }
    first = client.post("/v1/quota-requests", headers=headers, json=body)
    again = client.post("/v1/quota-requests", headers=headers, json=body)
    assert first.status_code == 201, first.text
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert stored(runtime, QuotaRequest) == 1


def test_a_subject_longer_than_255_characters_is_401_and_stores_nothing(client, runtime, issuer):
    headers = {**issuer.headers("u" * 256), "Idempotency-Key": "k-1"}
    response = client.post(
        "/v1/organisations",
        headers=headers,
        json={
            "kind": "business",
            "legal_name": "Atlas",
            "national_id": "001122334455667",
            "contact_email": "it@atlas.ma",
        },
    )
    assert_problem(response, 401, "255")
    assert stored(runtime, IdempotencyRecord) == 0


def test_an_idempotency_key_longer_than_255_characters_is_422(client, runtime, issuer):
    org = org_with_admin(runtime, "amina")
    response = client.post(
        "/v1/quota-requests",
        headers={**issuer.headers("amina"), "Idempotency-Key": "k" * 256},
        json={
            "organisation_id": org,
            "region": "rabat-1",
            "environment": "prod",
            "preset": "small",
            "justification": "long key",
        },
    )
    assert_problem(response, 422, "Idempotency-Key")
    assert stored(runtime, IdempotencyRecord) == 0 and stored(runtime, QuotaRequest) == 0


# ---------------------------------------------------------------- page sizes ----------


@pytest.fixture
def paged(runtime, settings):
    """The API with page_size_default 2 and page_size_max 3."""
    runtime.settings = settings.model_copy(update={"page_size_default": 2, "page_size_max": 3})
    with TestClient(
        create_app(runtime=runtime, verifier=TokenVerifier.from_settings(settings)), raise_server_exceptions=False
    ) as client:
        yield client


def test_page_sizes_come_from_the_settings(paged, runtime, issuer):
    for _ in range(5):
        org_with_admin(runtime, "amina")
    headers = issuer.headers("amina")
    first = paged.get("/v1/organisations", headers=headers).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    assert len(paged.get("/v1/organisations", params={"limit": 3}, headers=headers).json()["items"]) == 3
    assert_problem(paged.get("/v1/organisations", params={"limit": 4}, headers=headers), 422, "between 1 and 3")
    second = paged.get("/v1/organisations", params={"cursor": first["next_cursor"], "limit": 3}, headers=headers).json()
    assert len(second["items"]) == 3 and second["next_cursor"] is None
    seen = {o["id"] for o in first["items"]} | {o["id"] for o in second["items"]}
    assert len(seen) == 5
