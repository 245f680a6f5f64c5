"""Programmes through the HTTP API: a startup registers with its profile, is verified, applies and gets its
quota at once; approvers decide; operators see the report and the gauges; other organisations see nothing.
Both real databases."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from controlplane.programmes.catalogue import DEMO_PROGRAMMES
from controlplane.settings import Settings

OPERATOR, APPROVER = ("operator",), ("approver",)


@pytest.fixture
def settings(database_url: str, issuer, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        oidc_issuer=issuer.url,
        broker_url="memory://",
        demo_accounts=False,
        programmes_path=DEMO_PROGRAMMES,
    )


def register_startup(client, headers, **profile):
    body = {
        "kind": "business",
        "legal_name": "Atlas Startup SARL",
        "national_id": "001122334000055",
        "contact_email": "founders@atlas.ma",
        "sector": "technology",
        "employees": 6,
        "founded_on": date.today().replace(year=date.today().year - 1).isoformat(),
        **profile,
    }
    response = client.post("/v1/organisations", headers=headers, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def verified_startup(client, issuer, who="yasmine", **profile):
    org = register_startup(client, issuer.headers(who), **profile)
    assert (
        client.post(f"/v1/organisations/{org['id']}/verify", headers=issuer.headers("olga", roles=OPERATOR)).status_code
        == 200
    )
    return org


def test_a_startup_registers_applies_and_gets_its_quota_at_once(client, issuer):
    yasmine = issuer.headers("yasmine")
    org = verified_startup(client, issuer)
    assert org["sector"] == "technology" and org["employees"] == 6
    listed = client.get("/v1/programmes", headers=yasmine).json()["items"]
    assert [p["id"] for p in listed] == ["startup-launch", "digital-transition"]
    assert (
        listed[0]["free"] is True
        and listed[0]["grant"]["vcpus"] == 16
        and listed[0]["funding"]["rabat-1"]["vcpus"] == 32
    )
    check = client.get(f"/v1/programmes/startup-launch/eligibility?organisation_id={org['id']}", headers=yasmine).json()
    assert check == {"programme": "startup-launch", "organisation_id": org["id"], "eligible": True, "reasons": []}
    applied = client.post(
        "/v1/programmes/startup-launch/applications", headers=yasmine, json={"organisation_id": org["id"]}
    )
    assert applied.status_code == 201, applied.text
    enrolment = applied.json()
    assert enrolment["state"] == "enrolled" and enrolment["reason"].startswith("enrolled automatically")
    request = client.post(
        "/v1/quota-requests",
        headers=yasmine,
        json={
            "organisation_id": org["id"],
            "region": "rabat-1",
            "environment": "prod",
            "preset": "medium",
            "justification": "our first product",
        },
    ).json()
    assert request["state"] == "approved" and "programme startup-launch" in request["reason"]
    regions = {r["id"]: r for r in client.get("/v1/regions", headers=yasmine).json()}
    assert regions["rabat-1"]["resources"]["vcpus"]["granted"] == 16

    report = client.get("/v1/programmes/startup-launch/report", headers=issuer.headers("olga", roles=OPERATOR))
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["enrolments"]["enrolled"] == 1
    assert body["regions"]["rabat-1"]["vcpus"] == {"reserved": 32, "granted": 16, "used": 0}
    metrics = client.get("/metrics").text
    assert 'sahab_programme_enrolments{programme="startup-launch",state="enrolled"} 1.0' in metrics
    assert 'sahab_programme_granted{programme="startup-launch",region="rabat-1",resource="vcpus"} 16.0' in metrics
    assert 'sahab_programme_reserved{programme="startup-launch",region="rabat-1",resource="vcpus"} 32.0' in metrics
    assert 'sahab_programme_expiring_enrolments{programme="startup-launch",within="30d"} 0.0' in metrics


def test_other_organisations_see_nothing(client, issuer):
    org = verified_startup(client, issuer)
    enrolment = client.post(
        "/v1/programmes/startup-launch/applications",
        headers=issuer.headers("yasmine"),
        json={"organisation_id": org["id"]},
    ).json()
    mallory = issuer.headers("mallory")
    for path in (
        f"/v1/enrolments/{enrolment['id']}",
        f"/v1/programmes/startup-launch/eligibility?organisation_id={org['id']}",
    ):
        response = client.get(path, headers=mallory)
        assert response.status_code == 404 and response.json()["type"] == "urn:sahab:problem:not-found", path
    assert client.get("/v1/enrolments", headers=mallory).json()["items"] == []
    for action, body in (("choice", {"choice": "continue"}), ("approve", {"reason": "mine now"})):
        response = client.post(f"/v1/enrolments/{enrolment['id']}/{action}", headers=mallory, json=body)
        assert response.status_code in (403, 404), response.text
    applied = client.post(
        "/v1/programmes/startup-launch/applications", headers=mallory, json={"organisation_id": org["id"]}
    )
    assert applied.status_code == 404
    assert client.get("/v1/programmes/startup-launch/report", headers=mallory).status_code == 403
    assert (
        client.get("/v1/enrolments", headers=issuer.headers("amal", roles=APPROVER)).json()["items"][0]["id"]
        == enrolment["id"]
    )


def test_the_approver_path_and_precise_refusals(client, issuer):
    org = verified_startup(client, issuer, sector="textiles", employees=40)
    yasmine = issuer.headers("yasmine")
    pending = client.post(
        "/v1/programmes/digital-transition/applications", headers=yasmine, json={"organisation_id": org["id"]}
    ).json()
    assert pending["state"] == "pending" and "decided by an approver" in pending["reason"]
    waiting = client.get(
        "/v1/enrolments?state=pending&programme=digital-transition", headers=issuer.headers("amal", roles=APPROVER)
    ).json()["items"]
    assert [e["id"] for e in waiting] == [pending["id"]]
    no_reason = client.post(
        f"/v1/enrolments/{pending['id']}/approve", headers=issuer.headers("amal", roles=APPROVER), json={}
    )
    assert no_reason.status_code == 422
    approved = client.post(
        f"/v1/enrolments/{pending['id']}/approve",
        headers=issuer.headers("amal", roles=APPROVER),
        json={"reason": "export plan checked"},
    )
    assert approved.status_code == 200 and approved.json()["state"] == "enrolled"
    assert approved.json()["percent_off"] == "50.00"
    unknown = client.post("/v1/programmes/no-such/applications", headers=yasmine, json={"organisation_id": org["id"]})
    assert (
        unknown.status_code == 404
        and "known programmes: startup-launch, digital-transition" in unknown.json()["detail"]
    )
    again = client.post(
        "/v1/programmes/startup-launch/applications", headers=yasmine, json={"organisation_id": org["id"]}
    )
    assert again.status_code == 409 and "one at a time" in again.json()["detail"]
    bad_choice = client.post(f"/v1/enrolments/{pending['id']}/choice", headers=yasmine, json={"choice": "maybe"})
    assert bad_choice.status_code == 422
    early = client.post(f"/v1/enrolments/{pending['id']}/choice", headers=yasmine, json={"choice": "shrink"})
    assert early.status_code == 409 and "the choice opens on" in early.json()["detail"]


def test_profiles_are_validated_and_a_change_needs_verifying_again(client, issuer):
    yasmine = issuer.headers("yasmine")
    future = client.post(
        "/v1/organisations",
        headers=yasmine,
        json={
            "kind": "business",
            "legal_name": "Future SARL",
            "national_id": "001122334000099",
            "contact_email": "f@f.ma",
            "founded_on": "2999-01-01",
        },
    )
    assert future.status_code == 422 and "in the future" in future.json()["detail"]
    org = verified_startup(client, issuer)
    for bad in ({"sector": "mining"}, {"employees": -1}, {}, {"legal_name": "x"}):
        response = client.patch(f"/v1/organisations/{org['id']}", headers=yasmine, json=bad)
        assert response.status_code == 422, bad
    assert (
        client.patch(
            f"/v1/organisations/{org['id']}", headers=issuer.headers("mallory"), json={"employees": 3}
        ).status_code
        == 404
    )
    changed = client.patch(f"/v1/organisations/{org['id']}", headers=yasmine, json={"employees": 9}).json()
    assert changed["employees"] == 9 and changed["profile_verified_at"] is None
    applied = client.post(
        "/v1/programmes/startup-launch/applications", headers=yasmine, json={"organisation_id": org["id"]}
    ).json()
    assert applied["state"] == "pending" and "must verify it again" in applied["reason"]
