"""Request rules through the HTTP API, on both real databases: amounts bounded at input, a limit
on requests waiting per organisation, and approvers never deciding for their own organisation."""

from __future__ import annotations

import pytest

from tests.support.api import create_request, org_with_admin

APPROVER = ("approver",)


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"max_pending_requests_per_organisation": 2})


def body(org: str, env: str = "prod", **extra):
    return {"organisation_id": org, "region": "rabat-1", "environment": env, "justification": "test workload", **extra}


@pytest.mark.parametrize("vcpus", [10**100, 2**63, 257])
def test_an_amount_beyond_the_region_is_refused_at_input_and_nothing_is_stored(client, runtime, issuer, vcpus):
    org = org_with_admin(runtime, "amina")
    headers = issuer.headers("amina")
    response = client.post("/v1/quota-requests", headers=headers, json=body(org, amounts={"vcpus": vcpus}))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "urn:sahab:problem:invalid-input" and "vcpus" in problem["detail"]
    if vcpus == 257:  # rabat-1: 64 vCPUs x 4.0 overcommit
        assert "at most 256" in problem["detail"]
        assert problem["bounds"] == [{"resource": "vcpus", "requested": 257, "max": 256}]
    else:
        assert "amounts must be <= 9007199254740991" in problem["detail"]
    assert client.get("/v1/quota-requests", headers=headers).json()["items"] == []


def test_an_organisation_cannot_queue_more_requests_than_the_setting_allows(client, runtime, issuer):
    org = org_with_admin(runtime, "amina")
    headers = issuer.headers("amina")
    waiting = [create_request(client, headers, org, env=f"env-{n}", preset="large") for n in range(2)]
    assert {r["state"] for r in waiting} == {"submitted"}
    refused = client.post("/v1/quota-requests", headers=headers, json=body(org, env="env-3", preset="large"))
    assert refused.status_code == 409 and refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["type"] == "urn:sahab:problem:too-many-pending-requests"
    assert "2 requests waiting for a decision (at most 2)" in problem["detail"]
    assert (problem["pending"], problem["limit"]) == (2, 2)
    assert len(client.get("/v1/quota-requests", headers=headers).json()["items"]) == 2
    cancelled = client.post(f"/v1/quota-requests/{waiting[0]['id']}/cancel", headers=headers, json={})
    assert cancelled.status_code == 200, cancelled.text
    create_request(client, headers, org, env="env-3", preset="large")


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_an_approver_who_is_a_member_must_leave_the_decision_to_another(client, runtime, issuer, decision):
    org = org_with_admin(runtime, "salma")
    salma = issuer.headers("salma", roles=APPROVER)
    request = create_request(client, salma, org, preset="medium")
    assert request["state"] == "submitted"
    path = f"/v1/quota-requests/{request['id']}/{decision}"
    refused = client.post(path, headers=salma, json={"reason": "my own"})
    assert refused.status_code == 403 and refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["type"] == "urn:sahab:problem:separation-of-duties"
    assert "another approver must decide" in problem["detail"]
    assert client.get(f"/v1/quota-requests/{request['id']}", headers=salma).json()["state"] == "submitted"
    decided = client.post(path, headers=issuer.headers("hamza", roles=APPROVER), json={"reason": "independent"})
    assert decided.status_code == 200 and decided.json()["state"] in {"approved", "rejected"}
