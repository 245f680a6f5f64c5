"""Authentication by default, and organisation isolation on every endpoint."""

from __future__ import annotations

import re

import pytest

from tests.support.api import create_request, make_active, org_with_admin

PUBLIC = {"/healthz", "/readyz", "/metrics", "/v1/meta", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


def test_every_v1_route_needs_a_bearer_token(client):
    paths = {p: ops for p, ops in client.app.openapi()["paths"].items() if p not in PUBLIC}
    assert sum(len(ops) for ops in paths.values()) >= 20
    for template, operations in paths.items():
        path = re.sub(r"\{[^}]+\}", "x", template)
        for method in operations:
            response = client.request(method.upper(), path)
            assert response.status_code == 401, (method, template, response.status_code)
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["type"] == "urn:sahab:problem:unauthenticated"
            assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "token_problem,claims",
    [
        ("expired", {"exp": 1}),
        ("audience", {"aud": "someone-else"}),
        ("issuer", {"iss": "http://evil.example"}),
    ],
)
def test_bad_tokens_get_a_precise_401(client, issuer, token_problem, claims):
    response = client.get("/v1/regions", headers={"Authorization": f"Bearer {issuer.token('amina', **claims)}"})
    assert response.status_code == 401
    assert token_problem in response.json()["detail"]


@pytest.fixture
def world(client, runtime, issuer):
    """Two organisations, each with an active project and a waiting request."""
    mine, theirs = org_with_admin(runtime, "amina"), org_with_admin(runtime, "youssef")
    result = {}
    for org, who in ((mine, "amina"), (theirs, "youssef")):
        headers = issuer.headers(who)
        active = create_request(client, headers, org, env="prod")
        project = make_active(runtime, active["id"])
        waiting = create_request(client, headers, org, env="big", preset="large")
        result[who] = {"org": org, "project": project, "request": waiting["id"], "active": active["id"]}
    return result


def test_other_organisations_objects_answer_404_on_every_endpoint(client, issuer, world):
    theirs = world["youssef"]
    headers = issuer.headers("amina")
    calls = [
        ("GET", f"/v1/organisations/{theirs['org']}", None),
        ("GET", f"/v1/organisations/{theirs['org']}/members", None),
        ("POST", f"/v1/organisations/{theirs['org']}/members", {"subject": "amina", "role": "admin"}),
        ("DELETE", f"/v1/organisations/{theirs['org']}/members/youssef", None),
        ("GET", f"/v1/quota-requests/{theirs['request']}", None),
        ("GET", f"/v1/quota-requests/{theirs['request']}/events", None),
        ("POST", f"/v1/quota-requests/{theirs['request']}/cancel", None),
        ("POST", f"/v1/quota-requests/{theirs['active']}/retry", None),
        (
            "POST",
            "/v1/quota-requests",
            {
                "organisation_id": theirs["org"],
                "region": "rabat-1",
                "environment": "x",
                "preset": "small",
                "justification": "sneaky",
            },
        ),
        ("GET", f"/v1/projects/{theirs['project']}", None),
        ("POST", f"/v1/projects/{theirs['project']}/decommission", None),
        ("GET", f"/v1/projects/{theirs['project']}/credentials", None),
    ]
    for method, path, body in calls:
        response = client.request(method, path, headers=headers, json=body)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["type"] == "urn:sahab:problem:not-found"


def test_lists_show_only_the_callers_organisations(client, issuer, world):
    mine = world["amina"]
    headers = issuer.headers("amina")
    assert [o["id"] for o in client.get("/v1/organisations", headers=headers).json()["items"]] == [mine["org"]]
    assert {r["organisation_id"] for r in client.get("/v1/quota-requests", headers=headers).json()["items"]} == {
        mine["org"]
    }
    assert {p["organisation_id"] for p in client.get("/v1/projects", headers=headers).json()["items"]} == {mine["org"]}
    assert {u["organisation_id"] for u in client.get("/v1/usage", headers=headers).json()} == {mine["org"]}
    filtered = client.get("/v1/quota-requests", headers=headers, params={"organisation_id": world["youssef"]["org"]})
    assert filtered.json()["items"] == []


def test_approvers_see_everything_and_decide(client, issuer, world):
    headers = issuer.headers("salma", roles=("approver",))
    assert len(client.get("/v1/organisations", headers=headers).json()["items"]) == 2
    response = client.post(
        f"/v1/quota-requests/{world['youssef']['request']}/reject", headers=headers, json={"reason": "too big"}
    )
    assert response.status_code == 200 and response.json()["state"] == "rejected"


def test_members_cannot_decide_or_take_credentials(client, issuer, world):
    headers = issuer.headers("amina")
    response = client.post(f"/v1/quota-requests/{world['amina']['request']}/approve", headers=headers)
    assert response.status_code == 403 and response.json()["type"] == "urn:sahab:problem:forbidden"
    operator = issuer.headers("olga", roles=("operator",))
    response = client.get(f"/v1/projects/{world['amina']['project']}/credentials", headers=operator)
    assert response.status_code == 403


def test_organisation_claim_in_the_token_grants_membership(client, issuer, world):
    headers = issuer.headers("client:agency-bot", organisations=(f"{world['amina']['org']}:admin",))
    response = client.get(f"/v1/organisations/{world['amina']['org']}/members", headers=headers)
    assert response.status_code == 200
