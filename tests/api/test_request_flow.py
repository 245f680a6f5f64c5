"""The request flow through the HTTP API, on both real databases."""

from __future__ import annotations

from controlplane.persistence.database import transaction
from tests import factories


def test_business_requests_small_preset_and_is_approved_automatically(client, runtime, issuer, queue):
    with transaction(runtime.sessions) as session:
        org = factories.organisation(session, admin="youssef")
    headers = issuer.headers("youssef")
    response = client.post(
        "/v1/quota-requests",
        headers=headers,
        json={
            "organisation_id": org.id,
            "region": "rabat-1",
            "environment": "prod",
            "preset": "small",
            "justification": "first production workload",
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["state"] == "approved"
    assert body["reason"].startswith("approved automatically")
    assert queue.provisioned == [body["id"]]

    events = client.get(f"/v1/quota-requests/{body['id']}/events", headers=headers).json()
    assert [(e["from_state"], e["to_state"]) for e in events] == [(None, "submitted"), ("submitted", "approved")]

    regions = {r["id"]: r for r in client.get("/v1/regions", headers=headers).json()}
    assert regions["rabat-1"]["resources"]["vcpus"]["granted"] == 4
