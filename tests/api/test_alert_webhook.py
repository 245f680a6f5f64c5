"""The organisation's alert webhook over the API: who may set it, which URLs are refused (SSRF, length),
and its deliveries: listed for the organisation's admins, paginated, re-sent."""

from __future__ import annotations

from datetime import UTC

import pytest

from controlplane.persistence.database import transaction
from controlplane.persistence.models import Organisation, WebhookDelivery
from controlplane.webhooks.targets import TargetPolicy
from tests import factories
from tests.support.api import org_with_admin
from tests.support.webhooks import StaticResolver

PUBLIC = "93.184.215.14"


@pytest.fixture
def targets(runtime) -> TargetPolicy:
    """Names resolve from a fixed table (no DNS in tests); the operator allow-lists nothing."""
    runtime.webhook_targets = TargetPolicy(
        resolver=StaticResolver(
            {"hooks.example": [PUBLIC], "rebind.example": ["127.0.0.1"], "metadata.example": ["169.254.169.254"]}
        )
    )
    return runtime.webhook_targets


@pytest.fixture
def org(runtime) -> str:
    return org_with_admin(runtime, "amina")


def path(org: str) -> str:
    return f"/v1/organisations/{org}/alert-webhook"


def stored_url(runtime, org: str) -> str | None:
    with transaction(runtime.sessions) as session:
        return session.get_one(Organisation, org).alert_webhook_url


def test_alert_webhook_is_for_organisation_admins(client, runtime, issuer, targets, org):
    org_with_admin(runtime, "youssef")
    assert (
        client.put(path(org), headers=issuer.headers("youssef"), json={"url": "https://hooks.example/h"}).status_code
        == 404
    )
    assert (
        client.put(
            path(org), headers=issuer.headers("olga", roles=("operator",)), json={"url": "https://hooks.example/h"}
        ).status_code
        == 403
    )
    bad = client.put(path(org), headers=issuer.headers("amina"), json={"url": "not a url"})
    assert bad.status_code == 422 and "body.url" in bad.json()["detail"]
    made = client.put(path(org), headers=issuer.headers("amina"), json={"url": "https://hooks.example/sahab"})
    assert made.status_code == 200 and len(made.json()["secret"]) >= 32
    shown = client.get(path(org), headers=issuer.headers("amina")).json()
    assert shown["url"] == "https://hooks.example/sahab" and shown["secret"] is None
    with transaction(runtime.sessions) as session:
        assert session.get_one(Organisation, org).alert_webhook_secret == made.json()["secret"]
    assert client.delete(path(org), headers=issuer.headers("amina")).status_code == 204
    assert client.get(path(org), headers=issuer.headers("amina")).json()["url"] is None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://localhost/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.5/hook",
        "http://0.0.0.0/hook",
        "http://2130706433/hook",
        "http://0x7f.1/hook",
        "http://0177.0.0.1/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "https://rebind.example/hook",
        "https://metadata.example/hook",
    ],
)
def test_internal_targets_are_refused_when_saved_and_nothing_is_stored(client, runtime, issuer, targets, org, url):
    if url == "http://localhost/hook":
        runtime.webhook_targets = TargetPolicy()  # the machine's own resolver answers for localhost
    refused = client.put(path(org), headers=issuer.headers("amina"), json={"url": url})
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert problem["type"] == "urn:sahab:problem:webhook-target-refused"
    assert "SAHAB_ALERT_WEBHOOK_ALLOWED_TARGETS" in problem["detail"]
    assert refused.headers["content-type"] == "application/problem+json"
    assert stored_url(runtime, org) is None


def test_an_allow_listed_internal_receiver_may_be_saved(client, runtime, issuer, org):
    runtime.webhook_targets = TargetPolicy(["10.0.0.0/8"])
    assert (
        client.put(path(org), headers=issuer.headers("amina"), json={"url": "http://10.0.0.5/hook"}).status_code == 200
    )
    assert stored_url(runtime, org) == "http://10.0.0.5/hook"


def test_a_name_that_does_not_resolve_is_refused(client, runtime, issuer, targets, org):
    refused = client.put(path(org), headers=issuer.headers("amina"), json={"url": "https://nowhere.example/h"})
    assert refused.status_code == 422 and refused.json()["type"] == "urn:sahab:problem:webhook-target-unresolved"
    assert stored_url(runtime, org) is None


@pytest.mark.parametrize("length", [2001, 2052, 2083, 2084])
def test_a_url_longer_than_the_column_is_refused_and_nothing_stored(client, runtime, issuer, targets, org, length):
    """The schema used to allow 2,083 characters while the column holds 2,000: PostgreSQL answered 500."""
    url = "https://hooks.example/" + "a" * (length - len("https://hooks.example/"))
    refused = client.put(path(org), headers=issuer.headers("amina"), json={"url": url})
    assert refused.status_code == 422, refused.text
    assert "2000" in refused.json()["detail"]
    assert stored_url(runtime, org) is None
    longest = "https://hooks.example/" + "a" * (2000 - len("https://hooks.example/"))
    assert client.put(path(org), headers=issuer.headers("amina"), json={"url": longest}).status_code == 200
    assert stored_url(runtime, org) == longest


@pytest.fixture
def deliveries(runtime, org):
    """Three failed deliveries and one delivered for amina's organisation, one failed for youssef's."""
    from datetime import datetime, timedelta

    start = datetime(2026, 3, 1, tzinfo=UTC)
    with transaction(runtime.sessions) as session:
        other = factories.organisation(session, admin="youssef").id
        mine = [
            factories.webhook_delivery(session, org, state=state, at=start + timedelta(minutes=i)).id
            for i, state in enumerate(["failed", "delivered", "failed", "failed"])
        ]
        theirs = factories.webhook_delivery(session, other, at=start).id
    return {"mine": mine, "theirs": theirs, "other_org": other}


def test_deliveries_are_listed_for_the_organisations_admins_page_by_page(client, issuer, org, deliveries):
    listing = f"{path(org)}/deliveries"
    first = client.get(listing, headers=issuer.headers("amina"), params={"limit": 2})
    assert first.status_code == 200
    assert [d["id"] for d in first.json()["items"]] == deliveries["mine"][:2]
    second = client.get(
        listing, headers=issuer.headers("amina"), params={"limit": 2, "cursor": first.json()["next_cursor"]}
    )
    assert [d["id"] for d in second.json()["items"]] == deliveries["mine"][2:] and second.json()["next_cursor"] is None
    failed = client.get(listing, headers=issuer.headers("amina"), params={"state": "failed"}).json()["items"]
    assert [d["id"] for d in failed] == [deliveries["mine"][i] for i in (0, 2, 3)]
    assert failed[0]["attempts"] == 5 and failed[0]["last_status"] == 503 and failed[0]["payload"]["threshold"] == 80
    assert client.get(listing, headers=issuer.headers("youssef")).status_code == 404
    assert client.get(listing, headers=issuer.headers("amina"), params={"state": "lost"}).status_code == 422
    assert client.get(listing, headers=issuer.headers("amina"), params={"cursor": "garbage"}).status_code == 422


def test_a_failed_delivery_is_resent_by_an_admin_only(client, runtime, issuer, targets, org, deliveries, queue):
    client.put(path(org), headers=issuer.headers("amina"), json={"url": "https://hooks.example/sahab"})
    failed, delivered = deliveries["mine"][0], deliveries["mine"][1]
    resend = f"{path(org)}/deliveries/{failed}/resend"
    assert client.post(resend, headers=issuer.headers("youssef")).status_code == 404
    other = client.post(f"{path(org)}/deliveries/{deliveries['theirs']}/resend", headers=issuer.headers("amina"))
    assert other.status_code == 404  # another organisation's delivery, named under mine
    assert (
        client.post(
            f"{path(deliveries['other_org'])}/deliveries/{failed}/resend", headers=issuer.headers("youssef")
        ).status_code
        == 404
    )
    assert queue.webhooks == []
    again = client.post(resend, headers=issuer.headers("amina"))
    assert again.status_code == 202
    assert (again.json()["state"], again.json()["attempts"], again.json()["last_error"]) == ("pending", 0, None)
    assert queue.webhooks == [(failed, 0)]
    assert client.post(resend, headers=issuer.headers("amina")).status_code == 409  # pending now
    assert client.post(f"{path(org)}/deliveries/{delivered}/resend", headers=issuer.headers("amina")).status_code == 409


def test_a_resend_without_a_webhook_is_a_conflict(client, runtime, issuer, org, deliveries, queue):
    refused = client.post(f"{path(org)}/deliveries/{deliveries['mine'][0]}/resend", headers=issuer.headers("amina"))
    assert refused.status_code == 409 and "no webhook" in refused.json()["detail"]
    with transaction(runtime.sessions) as session:
        assert session.get_one(WebhookDelivery, deliveries["mine"][0]).state == "failed"
    assert queue.webhooks == []


def test_the_length_is_checked_after_normalisation(client, runtime, issuer, targets, org):
    """'é' becomes '%C3%A9': a URL of 1,990 characters as sent can need more than 2,000 once normalised."""
    url = "https://hooks.example/" + "é" * (1990 - len("https://hooks.example/"))
    refused = client.put(path(org), headers=issuer.headers("amina"), json={"url": url})
    assert refused.status_code == 422 and "at most 2000 characters" in refused.json()["detail"]
    assert stored_url(runtime, org) is None
