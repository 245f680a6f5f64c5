"""GET /v1/drift and POST /v1/projects/{id}/repair."""

from __future__ import annotations

import pytest

from controlplane.metering.collect import MeteringCollector
from tests.support.api import active_project
from tests.support.metering import FakeCloud


@pytest.fixture
def drifted(client, runtime, issuer):
    cloud = FakeCloud()
    mine, mine_project = active_project(client, runtime, issuer, "amina")
    theirs, their_project = active_project(client, runtime, issuer, "youssef")
    granted = client.get(f"/v1/projects/{mine_project}", headers=issuer.headers("amina")).json()["granted"]
    cloud.set(f"os-{mine_project}", {**granted, "vcpus": 1}, {"vcpus": 2})  # quota cut outside Sahab, usage above
    # their project is not on the cloud at all
    MeteringCollector(
        runtime.sessions, runtime.catalogue, runtime.deps.clock, lambda region: cloud, timeout=5
    ).collect()
    return {"mine": (mine, mine_project), "theirs": (theirs, their_project)}


def test_staff_see_all_drift_members_their_own(client, issuer, drifted):
    staff = client.get("/v1/drift", headers=issuer.headers("olga", roles=("operator",))).json()
    assert {(d["project_id"], d["kind"]) for d in staff} == {
        (drifted["mine"][1], "quota_changed"),
        (drifted["mine"][1], "usage_above_quota"),
        (drifted["theirs"][1], "project_missing"),
    }
    mine = client.get("/v1/drift", headers=issuer.headers("amina")).json()
    assert {d["project_id"] for d in mine} == {drifted["mine"][1]}
    changed = next(d for d in mine if d["kind"] == "quota_changed")
    assert (changed["resource"], changed["quota"], changed["used"]) == ("vcpus", 1, 2)
    other = client.get("/v1/drift", headers=issuer.headers("amina"), params={"organisation_id": drifted["theirs"][0]})
    assert other.status_code == 404


def test_drift_is_counted_in_metrics(client, drifted):
    text = client.get("/metrics").text
    assert 'sahab_drift{kind="quota_changed",region="rabat-1"} 1.0' in text
    assert 'sahab_drift{kind="project_missing",region="rabat-1"} 1.0' in text


def test_repair_is_for_operators_and_queues_the_project(client, runtime, issuer, drifted, queue):
    project = drifted["mine"][1]
    assert client.post(f"/v1/projects/{project}/repair", headers=issuer.headers("amina")).status_code == 403
    response = client.post(f"/v1/projects/{project}/repair", headers=issuer.headers("olga", roles=("operator",)))
    assert response.status_code == 202 and response.json()["state"] == "active"
    assert queue.repaired == [project]
    request_id = response.json()["current_request_id"]
    events = client.get(f"/v1/quota-requests/{request_id}/events", headers=issuer.headers("amina")).json()
    assert events[-1]["reason"] == "repair requested by olga" and events[-1]["to_state"] is None
