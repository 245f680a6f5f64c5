"""GET /v1/usage over a period: validation (precise 422), grouping, visibility."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from controlplane.metering.collect import MeteringCollector
from tests.support.api import active_project
from tests.support.metering import FakeCloud


@pytest.fixture
def metered(client, runtime, issuer):
    cloud = FakeCloud()
    mine, mine_project = active_project(client, runtime, issuer, "amina")
    theirs, their_project = active_project(client, runtime, issuer, "youssef")
    for pid in (mine_project, their_project):
        cloud.set(f"os-{pid}", {"vcpus": 4}, {"vcpus": 2, "ram_mib": 2048, "volume_gib": 10})
    MeteringCollector(
        runtime.sessions, runtime.catalogue, runtime.deps.clock, lambda region: cloud, timeout=5
    ).collect()
    return {"mine": (mine, mine_project), "theirs": (theirs, their_project)}


def test_plain_usage_is_unchanged_and_shows_the_last_reading(client, issuer, metered):
    rows = client.get("/v1/usage", headers=issuer.headers("amina")).json()
    assert [r["project_id"] for r in rows] == [metered["mine"][1]]
    assert rows[0]["used"]["vcpus"] == 2 and rows[0]["measured_at"]


def test_period_report_by_project_region_and_organisation(client, issuer, metered):
    staff = issuer.headers("salma", roles=("approver",))
    start = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0)
    params = {"from": start.isoformat()}
    by_project = client.get("/v1/usage", headers=staff, params=params).json()
    assert {r["project_id"] for r in by_project} == {metered["mine"][1], metered["theirs"][1]}
    row = by_project[0]
    assert row["by"] == "project" and row["from"].startswith(start.date().isoformat()) and row["samples"] == 1
    assert set(row["resources"]["vcpus"]) == {"granted", "peak", "average", "unit_hours"}
    assert row["resources"]["vcpus"]["peak"] == 2 and row["resources"]["ram_mib"]["peak"] == 2048
    by_region = client.get("/v1/usage", headers=staff, params={**params, "by": "region"}).json()
    assert [(r["region_id"], r["projects"], r["resources"]["vcpus"]["peak"]) for r in by_region] == [("rabat-1", 2, 4)]
    by_org = client.get("/v1/usage", headers=issuer.headers("amina"), params={**params, "by": "organisation"}).json()
    assert [(r["organisation_id"], r["project_id"]) for r in by_org] == [(metered["mine"][0], None)]


@pytest.mark.parametrize(
    "params,detail",
    [
        ({"from": "yesterday"}, "from: 'yesterday' is not an ISO 8601"),
        ({"to": "2026-13-40"}, "to: '2026-13-40' is not an ISO 8601"),
        ({"from": "2026-02-01", "to": "2026-01-01"}, "must be before to"),
        ({"from": "2020-01-01", "to": "2026-01-01"}, "at most 366 days"),
    ],
)
def test_bad_periods_get_a_precise_422(client, issuer, params, detail):
    response = client.get("/v1/usage", headers=issuer.headers("amina"), params=params)
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
    assert detail in response.json()["detail"], response.json()


def test_unknown_grouping_is_refused(client, issuer):
    response = client.get("/v1/usage", headers=issuer.headers("amina"), params={"by": "planet"})
    assert response.status_code == 422 and "query.by" in response.json()["detail"]
