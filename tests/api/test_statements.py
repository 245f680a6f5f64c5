"""/v1/prices, /v1/statements and budgets over HTTP: the same visibility as usage (other organisations
404), downloads, corrections by operators, the estimate on requests and the budget refusal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from controlplane.billing import statements
from controlplane.persistence.database import transaction
from controlplane.persistence.models import Organisation
from tests import factories
from tests.support.api import org_with_admin

MONTH_AGO = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0) - timedelta(days=20)


@pytest.fixture
def issued(runtime) -> tuple[str, str]:
    """amina's organisation with a project of 2 vCPUs all last month, and last month's statement issued."""
    org = org_with_admin(runtime, "amina")
    start = MONTH_AGO.replace(day=1)
    with transaction(runtime.sessions) as session:
        project = factories.active_project(session, org, created_at=start - timedelta(days=3), granted={"vcpus": 2})
        factories.usage_sample(session, project, start - timedelta(days=1), quota={"vcpus": 2}, used={"volume_gib": 5})
        statement = statements.issue(
            session,
            runtime.deps.billing,
            session.get_one(Organisation, org),
            f"{start.year:04d}-{start.month:02d}",
            datetime.now(UTC),
        )
        return org, statement.id


def test_prices_are_listed(client, issuer):
    body = client.get("/v1/prices", headers=issuer.headers("amina")).json()
    assert body["currencies"] == {"business": "MAD", "agency": "CU"}
    assert body["versions"][0]["resources"]["vcpus"] == {
        "basis": "granted",
        "unit": "vCPU-hour",
        "per": 1,
        "prices": {"business": "0.25", "agency": "0.18"},
    }


@pytest.mark.pdf
def test_statements_list_show_and_download_for_members_only(client, issuer, issued):
    org, statement_id = issued
    mine = client.get("/v1/statements", headers=issuer.headers("amina")).json()["items"]
    assert [s["id"] for s in mine] == [statement_id] and mine[0]["state"] == "issued" and mine[0]["number"]
    shown = client.get(f"/v1/statements/{statement_id}", headers=issuer.headers("amina")).json()
    vcpus = next(line for line in shown["lines"] if line["resource"] == "vcpus")
    hours = int(vcpus["quantity"].split(".")[0]) // 2
    assert hours in (28 * 24, 29 * 24, 30 * 24, 31 * 24) and shown["projects"][0]["amount"] == shown["total"]
    csv = client.get(f"/v1/statements/{statement_id}/csv", headers=issuer.headers("amina"))
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[0].startswith("statement_id,number,") and shown["total"] in csv.text
    pdf = client.get(f"/v1/statements/{statement_id}/pdf", params={"lang": "ar"}, headers=issuer.headers("amina"))
    assert (
        pdf.status_code == 200 and pdf.content.startswith(b"%PDF") and pdf.headers["content-type"] == "application/pdf"
    )
    # a project's statement: its lines and totals only
    project_id = shown["projects"][0]["project_id"]
    one = client.get(
        f"/v1/statements/{statement_id}", params={"project_id": project_id}, headers=issuer.headers("amina")
    )
    assert one.status_code == 200 and {line["project_id"] for line in one.json()["lines"]} == {project_id}
    assert one.json()["total"] == shown["projects"][0]["amount"]
    only = client.get(
        f"/v1/statements/{statement_id}/csv", params={"project_id": project_id}, headers=issuer.headers("amina")
    )
    assert only.status_code == 200 and project_id in only.text
    missing = client.get(
        f"/v1/statements/{statement_id}/pdf", params={"project_id": "prj_other"}, headers=issuer.headers("amina")
    )
    assert missing.status_code == 404
    # another organisation's member sees nothing of it
    stranger = issuer.headers("youssef")
    assert client.get("/v1/statements", headers=stranger).json()["items"] == []
    for path in ("", "/csv", "/pdf"):
        response = client.get(f"/v1/statements/{statement_id}{path}", headers=stranger)
        assert response.status_code == 404 and response.headers["content-type"] == "application/problem+json"
    assert client.get("/v1/statements", params={"organisation_id": org}, headers=stranger).status_code == 404
    staff = client.get("/v1/statements", headers=issuer.headers("salma", roles=("approver",))).json()["items"]
    assert statement_id in [s["id"] for s in staff]


def test_bad_parameters_are_precise(client, issuer, issued):
    response = client.get("/v1/statements", params={"month": "2026-13"}, headers=issuer.headers("amina"))
    assert response.status_code == 422 and "YYYY-MM" in response.json()["detail"]
    response = client.get(f"/v1/statements/{issued[1]}/pdf", params={"lang": "de"}, headers=issuer.headers("amina"))
    assert response.status_code == 422


def test_operators_correct_with_a_credit_note(client, issuer, issued):
    _, statement_id = issued
    refused = client.post(
        f"/v1/statements/{statement_id}/correct", json={"reason": "wrong"}, headers=issuer.headers("amina")
    )
    assert refused.status_code == 403
    done = client.post(
        f"/v1/statements/{statement_id}/correct",
        json={"reason": "late price fix"},
        headers=issuer.headers("olga", roles=("operator",)),
    )
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["credit_note"]["corrects_id"] == statement_id and body["replacement"]["replaces_id"] == statement_id
    assert body["credit_note"]["total"] == "-" + body["replacement"]["total"]
    original = client.get(f"/v1/statements/{statement_id}", headers=issuer.headers("amina")).json()
    assert original["state"] == "corrected" and original["corrected_by_id"] == body["credit_note"]["id"]
    again = client.post(
        f"/v1/statements/{statement_id}/correct",
        json={"reason": "again"},
        headers=issuer.headers("olga", roles=("operator",)),
    )
    assert again.status_code == 409


def test_requests_show_their_estimate_and_a_blocking_budget_refuses_them(client, issuer, runtime):
    org = org_with_admin(runtime, "amina")
    headers = issuer.headers("amina")
    body = {
        "organisation_id": org,
        "region": "rabat-1",
        "environment": "prod",
        "preset": "small",
        "justification": "estimate first",
    }
    before = client.post("/v1/prices/estimate", json=body, headers=headers)
    assert before.status_code == 200, before.text
    estimate = before.json()["request"]["amount"]
    assert before.json()["budget"] is None and estimate == before.json()["organisation"]["amount"]
    assert client.post("/v1/prices/estimate", json=body, headers=issuer.headers("youssef")).status_code == 404
    budget = client.put(
        f"/v1/organisations/{org}/budget", json={"amount": "100.00", "block_increases": True}, headers=headers
    )
    assert budget.status_code == 200 and budget.json()["amount"] == "100.00"
    assert client.get(f"/v1/organisations/{org}/budget", headers=issuer.headers("youssef")).status_code == 404
    assert client.put(f"/v1/organisations/{org}/budget", json={"amount": "1e3"}, headers=headers).status_code == 422
    refused = client.post("/v1/quota-requests", json=body, headers=headers)
    assert refused.status_code == 409 and refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["type"] == "urn:sahab:problem:budget-exceeded"
    assert (problem["budget"], problem["estimate"], problem["currency"]) == ("100.00", estimate, "MAD")
    client.put(f"/v1/organisations/{org}/budget", json={"amount": "100000", "block_increases": True}, headers=headers)
    created = client.post("/v1/quota-requests", json=body, headers=headers)
    assert created.status_code == 201 and created.json()["estimated_monthly_cost"]["amount"] == estimate
    shown = client.get(f"/v1/quota-requests/{created.json()['id']}", headers=headers).json()
    assert shown["estimated_monthly_cost"]["currency"] == "MAD"
    assert client.delete(f"/v1/organisations/{org}/budget", headers=headers).status_code == 204


def test_a_draft_is_computed_as_it_is_read(client, issuer, runtime):
    org = org_with_admin(runtime, "amina")
    now = datetime.now(UTC)
    with transaction(runtime.sessions) as session:
        project = factories.active_project(session, org, created_at=now - timedelta(hours=3), granted={"vcpus": 4})
        factories.usage_sample(session, project, now - timedelta(hours=2), quota={"vcpus": 4})
        draft_id = statements.refresh_draft(
            session, runtime.deps.billing, session.get_one(Organisation, org), now - timedelta(hours=1)
        ).id
    shown = client.get(f"/v1/statements/{draft_id}", headers=issuer.headers("amina")).json()
    assert shown["state"] == "draft" and shown["number"] is None
    # stored at 1 h of 4 vCPUs (1.00 MAD); read now, about 2 h (2.00 MAD): the reading is newer than the row
    assert Decimal(shown["total"]) > Decimal("1.90")
    listed = client.get("/v1/statements", params={"state": "draft"}, headers=issuer.headers("amina")).json()["items"]
    assert [s["id"] for s in listed] == [draft_id] and listed[0]["total"] == "1.00"
