"""Budgets: blocking increase requests with the budget and the estimate, alerts at 80 % and 100 % once
a month through the webhook outbox (driven by the beat run with a controlled clock)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from controlplane.billing import budgets, schedule
from controlplane.billing.billing import Billing
from controlplane.errors import BudgetExceeded, InvalidInput, NotFound, PermissionDenied
from controlplane.metering.alerts import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from controlplane.persistence.database import transaction
from controlplane.persistence.models import Statement, WebhookDelivery
from controlplane.quota_requests import service
from controlplane.quota_requests.schemas import QuotaRequestCreate
from controlplane.webhooks.delivery import DeliveryRules, WebhookDeliverer
from controlplane.webhooks.targets import TargetPolicy
from tests import factories
from tests.support.billing import march_price_change
from tests.support.webhooks import Receiver


@pytest.fixture
def billed(deps):
    return dataclasses.replace(deps, billing=Billing(march_price_change()))


def small(org_id: str, env: str = "prod", **amounts: int) -> QuotaRequestCreate:
    return QuotaRequestCreate(
        organisation_id=org_id,
        region="rabat-1",
        environment=env,
        preset="small",
        amounts=amounts,
        justification="budget test",
    )


# The small preset in January 2026 (744 hours) at the test prices: 4 vCPUs x 0.25 = 744.00,
# 8 GiB x 0.03 = 178.56, 100 GiB of volumes counted as fully used x 0.001 = 74.40 (floating IPs are free).
SMALL_MONTH = "996.96"


def test_the_estimate_of_a_request(sessions, billed):
    with transaction(sessions) as session:
        org = factories.organisation(session)
        request = service.create(session, billed, factories.person(), small(org.id))
        estimate = budgets.request_estimate(session, billed.billing, org, request.amounts, billed.clock.now())
    assert estimate["amount"] == SMALL_MONTH and estimate["currency"] == "MAD" and estimate["hours"] == 744
    assert estimate["price_version"] == "v1"


def test_a_blocking_budget_refuses_an_increase_with_the_budget_and_the_estimate(sessions, billed):
    owner = factories.person()
    with transaction(sessions) as session:
        org = factories.organisation(session)
        budgets.set_budget(session, billed.billing, owner, org.id, "500", True, billed.clock.now())
    with transaction(sessions) as session:
        with pytest.raises(BudgetExceeded) as refused:
            service.create(session, billed, owner, small(org.id))
    assert refused.value.extra == {"budget": "500.00", "estimate": SMALL_MONTH, "currency": "MAD", "period": "2026-01"}
    assert "above its budget of 500.00 MAD" in refused.value.detail
    with transaction(sessions) as session:  # a budget that only alerts lets it through
        budgets.set_budget(session, billed.billing, owner, org.id, "500", False, billed.clock.now())
        created = service.create(session, billed, owner, small(org.id))
    assert created.state == "approved"


def test_a_budget_never_blocks_a_decrease(sessions, billed):
    owner = factories.person()
    with transaction(sessions) as session:
        org = factories.organisation(session)
        project = factories.active_project(
            session,
            org.id,
            created_at=billed.clock.now(),
            environment="prod",
            granted={"vcpus": 4, "ram_mib": 8192, "volume_gib": 100},
        )
        budgets.set_budget(session, billed.billing, owner, org.id, "10", True, billed.clock.now())
        decrease = service.create(
            session,
            billed,
            owner,
            QuotaRequestCreate(
                organisation_id=org.id,
                region="rabat-1",
                environment="prod",
                amounts={"vcpus": 2, "ram_mib": 4096, "volume_gib": 50},
                justification="smaller",
            ),
        )
    assert decrease.project_id == project.id and decrease.state != "rejected"


def test_budget_rules(sessions, billed):
    now = billed.clock.now()
    with transaction(sessions) as session:
        org = factories.organisation(session, members=("colleague",))
        for bad in ("-1", "0", "12.345", "lots", 1.5, True):
            with pytest.raises(InvalidInput):
                budgets.set_budget(session, billed.billing, factories.person(), org.id, bad, False, now)
        with pytest.raises(PermissionDenied):
            budgets.set_budget(session, billed.billing, factories.person("colleague"), org.id, "10", False, now)
        with pytest.raises(NotFound):
            budgets.get_budget(session, billed.billing, factories.person("stranger"), org.id, now)
        shown = budgets.get_budget(session, billed.billing, factories.person("colleague"), org.id, now)
        assert shown["amount"] is None and shown["currency"] == "MAD"


def test_alerts_at_80_and_100_percent_once_a_month(sessions, billed, clock, queue):
    owner = factories.person()
    clock._now = datetime(2026, 3, 1, tzinfo=UTC)
    with transaction(sessions) as session:
        org = factories.organisation(session)
        project = factories.active_project(session, org.id, created_at=clock.now(), granted={"vcpus": 4})
        factories.usage_sample(session, project, clock.now(), quota={"vcpus": 4})  # 4 x 0.25 = 1 MAD an hour
        budgets.set_budget(session, billed.billing, owner, org.id, "100", False, clock.now())

    def run_at(day: int, hour: int, month: int = 3) -> list[int]:
        clock._now = datetime(2026, month, day, hour, tzinfo=UTC)
        schedule.run(sessions, billed.billing, clock, queue)
        with transaction(sessions) as session:
            return [
                d.payload["threshold"]
                for d in session.scalars(
                    select(WebhookDelivery)
                    .where(WebhookDelivery.organisation_id == org.id)
                    .order_by(WebhookDelivery.created_at)
                )
            ]

    assert run_at(4, 0) == []  # 72 MAD
    assert run_at(4, 8) == [80]  # 80 MAD
    assert run_at(4, 12) == [80]  # 84: already announced
    assert run_at(5, 4) == [80, 100]  # 100 MAD
    assert run_at(6, 0) == [80, 100]
    assert run_at(4, 9, month=4) == [80, 100, 80]  # April starts again: 81 MAD
    with transaction(sessions) as session:
        delivery = session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.created_at)).first()
        march = session.scalar(
            select(Statement).where(Statement.organisation_id == org.id, Statement.period == "2026-03")
        )
    assert delivery.payload["type"] == "sahab.budget.threshold" and delivery.payload["budget"] == "100.00"
    assert len(queue.webhooks) == 3  # each sent to the deliverer after its transaction committed
    # the April run issued March: 360 h x 1 MAD, then from the 16th 384 h x 1.20 (0.30 a vCPU-hour)
    assert march.state == "issued" and march.total == "820.80" and march.number == "SAH-2026-000001"


def test_a_budget_alert_arrives_signed_at_the_organisation_webhook(sessions, billed, clock, queue):
    """The beat run's alerts, delivered by the webhook deliverer over real HTTP to a loopback receiver."""
    receiver = Receiver()
    clock._now = datetime(2026, 3, 1, tzinfo=UTC)
    with receiver.serving() as server:
        with transaction(sessions) as session:
            org = factories.organisation(session)
            org.alert_webhook_url, org.alert_webhook_secret = f"{server.url}/hook", "s3cret"
            project = factories.active_project(session, org.id, created_at=clock.now(), granted={"vcpus": 4})
            factories.usage_sample(session, project, clock.now(), quota={"vcpus": 4})
            budgets.set_budget(session, billed.billing, factories.person(), org.id, "10", False, clock.now())
        clock._now = datetime(2026, 3, 1, 12, tzinfo=UTC)  # 12 MAD of 10: both thresholds at once
        schedule.run(sessions, billed.billing, clock, queue)
        deliverer = WebhookDeliverer(sessions, clock, queue, TargetPolicy(["127.0.0.1/32"]), DeliveryRules())
        assert [deliverer.deliver(delivery_id) for delivery_id, _ in queue.webhooks] == ["delivered", "delivered"]
    bodies = []
    for body, headers in receiver.received:
        assert verify("s3cret", headers[TIMESTAMP_HEADER.lower()], body, headers[SIGNATURE_HEADER.lower()])
        bodies.append(json.loads(body))
    assert sorted(b["threshold"] for b in bodies) == [80, 100] and {b["spent"] for b in bodies} == {"12.00"}
