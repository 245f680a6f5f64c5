"""`sahab orgs webhook-deliveries ORG [--state]` and `sahab orgs webhook-resend ORG DELIVERY`."""

from __future__ import annotations

import pytest

from controlplane.persistence.database import transaction
from controlplane.persistence.models import Organisation
from tests import factories


@pytest.fixture
def demo_org(served):
    """Amina's demo organisation with a webhook (set directly: the API would resolve the name); removed after."""
    org_id = "org_demo_agency"
    with transaction(served.runtime.sessions) as session:
        org = session.get_one(Organisation, org_id)
        org.alert_webhook_url, org.alert_webhook_secret = "https://hooks.example/sahab", "s3cret"
    yield org_id
    with transaction(served.runtime.sessions) as session:
        org = session.get_one(Organisation, org_id)
        org.alert_webhook_url = org.alert_webhook_secret = None


def test_admins_list_failed_deliveries_and_resend_one(cli, served, demo_org, monkeypatch):
    org_id = demo_org
    sent: list[str] = []  # the fake worker queue runs provisioning only: record the delivery task instead
    monkeypatch.setattr(
        served.queue, "deliver_webhook", lambda delivery_id, delay_seconds=0: sent.append(delivery_id), raising=False
    )
    with transaction(served.runtime.sessions) as session:
        failed = factories.webhook_delivery(session, org_id, state="failed").id
        delivered = factories.webhook_delivery(session, org_id, state="delivered").id

    listed = cli.json("orgs", "webhook-deliveries", org_id, "--all", user="amina")
    assert [d["id"] for d in listed["items"]][-2:] == [failed, delivered]
    only_failed = cli("orgs", "webhook-deliveries", org_id, "--state", "failed", user="amina")
    assert only_failed.exit_code == 0 and failed in only_failed.stdout and delivered not in only_failed.stdout
    assert "vcpus 80 %" in only_failed.stdout and "HTTP 503" in only_failed.stdout

    assert cli("orgs", "webhook-deliveries", org_id, user="youssef").exit_code == 5  # another organisation's
    resent = cli.json("orgs", "webhook-resend", org_id, failed, user="amina")
    assert resent["state"] == "pending" and resent["attempts"] == 0
    assert sent == [failed]
    again = cli("orgs", "webhook-resend", org_id, failed, user="amina")
    assert again.exit_code == 6 and "pending" in again.stderr
