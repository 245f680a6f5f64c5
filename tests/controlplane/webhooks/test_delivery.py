"""Delivery over real HTTP on loopback (allow-listed for the test receivers): signed, pinned to the checked
address, bounded in time and bytes, retried with backoff by new tasks, kept when every attempt failed,
and found again by reconcile when its task was lost."""

from __future__ import annotations

import ssl
import time
from datetime import timedelta

import pytest

from controlplane.metering.alerts import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from controlplane.persistence.database import transaction
from controlplane.persistence.models import Organisation, WebhookDelivery
from controlplane.ports import Alert
from controlplane.webhooks.delivery import DeliveryRules, WebhookDeliverer
from controlplane.webhooks.service import enqueue_alerts
from controlplane.webhooks.targets import TargetPolicy
from tests import factories
from tests.support.webhooks import (
    Receiver,
    StaticResolver,
    dripping_receiver,
    flooding_receiver,
    self_signed,
    tls_serving,
)

LOOPBACK = ["127.0.0.1/32"]
PAYLOAD = {"type": "sahab.usage.threshold", "resource": "vcpus", "threshold": 80}


@pytest.fixture
def organisation(sessions):
    with transaction(sessions) as session:
        return factories.organisation(session).id


@pytest.fixture
def deliver(sessions, clock, queue, organisation):
    """deliver(url, ...) -> (deliverer, delivery id): the organisation's webhook set to url, one alert stored."""

    def make(url: str, *, allowed=LOOPBACK, resolver=None, ssl_context=None, **rules) -> tuple[WebhookDeliverer, str]:
        with transaction(sessions) as session:
            row = session.get_one(Organisation, organisation)
            row.alert_webhook_url, row.alert_webhook_secret = url, "s3cret"
            [delivery_id] = enqueue_alerts(session, queue, [Alert(organisation, PAYLOAD)], clock.now())
        policy = TargetPolicy(allowed, resolver) if resolver else TargetPolicy(allowed)
        rules = {"attempts": 3, "backoff_seconds": 10, "deadline_seconds": 5, **rules}
        return WebhookDeliverer(sessions, clock, queue, policy, DeliveryRules(**rules), ssl_context), delivery_id

    return make


def stored(sessions, delivery_id: str) -> WebhookDelivery:
    with transaction(sessions) as session:
        return session.get_one(WebhookDelivery, delivery_id)


def test_an_alert_is_stored_and_its_task_sent_only_after_commit(sessions, clock, queue, organisation):
    with pytest.raises(RuntimeError):
        with transaction(sessions) as session:
            enqueue_alerts(session, queue, [Alert(organisation, PAYLOAD)], clock.now())
            raise RuntimeError("the collection failed")
    assert queue.webhooks == []
    with transaction(sessions) as session:
        [delivery_id] = enqueue_alerts(session, queue, [Alert(organisation, PAYLOAD)], clock.now())
        assert queue.webhooks == []
    assert queue.webhooks == [(delivery_id, 0)]
    delivery = stored(sessions, delivery_id)
    assert (delivery.state, delivery.attempts, delivery.payload, delivery.next_attempt_at) == (
        "pending",
        0,
        PAYLOAD,
        clock.now(),
    )


def test_a_signed_alert_is_delivered_once(deliver, sessions, clock):
    receiver = Receiver()
    with receiver.serving() as server:
        deliverer, delivery_id = deliver(f"{server.url}/hook")
        assert deliverer.deliver(delivery_id) == "delivered"
        assert deliverer.deliver(delivery_id) == "skipped"  # a duplicate task sends nothing
    [(body, headers)] = receiver.received
    assert headers[TIMESTAMP_HEADER.lower()] == str(int(clock.now().timestamp()))
    assert verify("s3cret", headers[TIMESTAMP_HEADER.lower()], body, headers[SIGNATURE_HEADER.lower()])
    assert headers[DELIVERY_HEADER.lower()] == delivery_id
    delivery = stored(sessions, delivery_id)
    assert (delivery.state, delivery.attempts, delivery.last_status, delivery.delivered_at) == (
        "delivered",
        1,
        204,
        clock.now(),
    )


def test_an_outage_is_retried_with_backoff_and_kept_when_every_attempt_failed(deliver, sessions, clock, queue):
    receiver = Receiver([503, 503, 503, 503])
    with receiver.serving() as server:
        deliverer, delivery_id = deliver(f"{server.url}/hook")
        assert deliverer.deliver(delivery_id) == "pending"
        assert queue.webhooks[-1] == (delivery_id, 10)
        assert deliverer.deliver(delivery_id) == "skipped"  # not due before its backoff
        clock.advance(seconds=10)
        assert deliverer.deliver(delivery_id) == "pending"
        assert queue.webhooks[-1] == (delivery_id, 20)
        clock.advance(seconds=20)
        assert deliverer.deliver(delivery_id) == "failed"
    assert len(receiver.received) == 3
    assert receiver.received[0][0] == receiver.received[2][0]  # the same body every time
    delivery = stored(sessions, delivery_id)
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("failed", 3, 503)
    assert delivery.last_error.startswith("HTTP 503") and delivery.next_attempt_at is None


def test_a_refusal_is_not_retried(deliver, sessions, queue):
    receiver = Receiver([400])
    with receiver.serving() as server:
        deliverer, delivery_id = deliver(f"{server.url}/hook")
        assert deliverer.deliver(delivery_id) == "failed"
    assert len(receiver.received) == 1 and len(queue.webhooks) == 1


def test_loopback_is_refused_at_delivery_once_the_allow_list_no_longer_has_it(deliver, sessions, queue):
    receiver = Receiver()
    with receiver.serving() as server:
        # Saved while the operator allowed loopback; the setting has changed since.
        deliverer, delivery_id = deliver(f"{server.url}/hook", allowed=[])
        assert deliverer.deliver(delivery_id) == "failed"
    assert receiver.received == []
    delivery = stored(sessions, delivery_id)
    assert "127.0.0.1 is loopback" in delivery.last_error and delivery.attempts == 1


def test_the_connection_goes_to_the_address_that_was_checked(deliver, sessions):
    """DNS rebinding: the name would resolve elsewhere by connection time; only the checked address is used.
    (The system resolver does not know hooks.test at all: a second lookup could not have connected.)"""
    receiver = Receiver()
    with receiver.serving() as server:
        resolver = StaticResolver({"hooks.test": ["127.0.0.1"]}, {"hooks.test": ["169.254.169.254"]})
        deliverer, delivery_id = deliver(f"http://hooks.test:{server.port}/hook", resolver=resolver)
        assert deliverer.deliver(delivery_id) == "delivered"
    assert resolver.calls == ["hooks.test"]
    assert receiver.received[0][1]["host"] == f"hooks.test:{server.port}"


def test_https_uses_the_name_for_sni_and_the_certificate_while_connecting_to_the_checked_address(deliver, tmp_path):
    receiver = Receiver()
    cert_file, key_file = self_signed("hooks.test", tmp_path)
    context = ssl.create_default_context(cafile=str(cert_file))  # trusts the test certificate only
    with tls_serving(receiver, cert_file, key_file) as port:
        deliverer, delivery_id = deliver(
            f"https://hooks.test:{port}/hook",
            ssl_context=context,
            resolver=StaticResolver({"hooks.test": ["127.0.0.1"]}),
        )
        assert deliverer.deliver(delivery_id) == "delivered"
    assert receiver.received[0][1]["host"] == f"hooks.test:{port}"


def test_a_receiver_that_drips_its_answer_is_cut_at_the_total_deadline(deliver, sessions):
    with dripping_receiver() as receiver:
        deliverer, delivery_id = deliver(f"http://127.0.0.1:{receiver.port}/hook", deadline_seconds=1.0)
        started = time.monotonic()
        assert deliverer.deliver(delivery_id) == "pending"  # a timeout is worth another attempt
        elapsed = time.monotonic() - started
        assert receiver.client_gone.wait(10)
    # Each byte arrives 50 ms after the last, far within any per-read timeout: only a total deadline stops it.
    assert receiver.sent >= 5 and elapsed < 2.5
    assert "no complete answer within 1s" in stored(sessions, delivery_id).last_error


def test_a_huge_answer_is_not_read_past_the_cap(deliver, sessions):
    with flooding_receiver() as receiver:
        deliverer, delivery_id = deliver(f"http://127.0.0.1:{receiver.port}/hook", max_response_bytes=64 * 1024)
        assert deliverer.deliver(delivery_id) == "delivered"  # the status was 200; the body does not matter
        assert receiver.client_gone.wait(10)
    assert receiver.sent < 32 * 1024 * 1024  # the 64 MiB body was dropped (kernel buffers hold a few MiB)


def test_a_removed_webhook_cancels_its_pending_deliveries(deliver, sessions, organisation):
    deliverer, delivery_id = deliver("http://127.0.0.1:9/hook")
    with transaction(sessions) as session:
        row = session.get_one(Organisation, organisation)
        row.alert_webhook_url = row.alert_webhook_secret = None
    assert deliverer.deliver(delivery_id) == "cancelled"
    assert stored(sessions, delivery_id).last_error == "the organisation removed its webhook"


class BrokerDown:
    def deliver_webhook(self, delivery_id: str, delay_seconds: float = 0) -> None:
        raise ConnectionError("broker unreachable")


def test_deliveries_whose_task_was_lost_are_sent_again_by_reconcile(sessions, clock, queue, organisation):
    with transaction(sessions) as session:
        [lost] = enqueue_alerts(session, BrokerDown(), [Alert(organisation, PAYLOAD)], clock.now())
    assert stored(sessions, lost).state == "pending"  # the commit stood although the task was not sent
    deliverer = WebhookDeliverer(sessions, clock, queue, TargetPolicy(), DeliveryRules())
    assert deliverer.reconcile() == []  # not overdue yet: its task may still be on its way
    clock.advance(seconds=61)
    assert deliverer.reconcile() == [lost]
    assert queue.webhooks == [(lost, 0)]


def test_an_attempt_whose_worker_died_is_sent_again_after_its_lease(deliver, sessions, clock, queue, monkeypatch):
    deliverer, delivery_id = deliver("http://127.0.0.1:9/hook")
    monkeypatch.setattr(deliverer, "_attempt", lambda claim: (_ for _ in ()).throw(SystemExit("worker killed")))
    with pytest.raises(SystemExit):
        deliverer.deliver(delivery_id)
    assert deliverer.reconcile() == [] and deliverer.deliver(delivery_id) == "skipped"  # its lease holds
    clock.advance(seconds=5 + 30 + 61)
    assert deliverer.reconcile() == [delivery_id]


def test_delivered_alerts_are_dropped_after_the_retention_and_failed_ones_kept(sessions, clock, queue, organisation):
    with transaction(sessions) as session:
        delivered = factories.webhook_delivery(session, organisation, state="delivered", at=clock.now()).id
        failed = factories.webhook_delivery(session, organisation, state="failed", at=clock.now()).id
    clock.advance(days=31)
    WebhookDeliverer(sessions, clock, queue, TargetPolicy(), DeliveryRules(retention=timedelta(days=30))).reconcile()
    with transaction(sessions) as session:
        assert session.get(WebhookDelivery, delivered) is None
        assert session.get(WebhookDelivery, failed) is not None


def test_the_allow_list_setting_decides_at_every_delivery(settings, queue, organisation, sessions, clock):
    """Loopback allowed by the setting when the URL was saved, then the operator removed it: refused."""
    from controlplane.composition import build_worker

    receiver = Receiver()
    with receiver.serving() as server:
        with transaction(sessions) as session:
            row = session.get_one(Organisation, organisation)
            row.alert_webhook_url, row.alert_webhook_secret = f"{server.url}/hook", "s3cret"
            first, second = enqueue_alerts(session, queue, [Alert(organisation, PAYLOAD)] * 2, clock.now())
        allowed = build_worker(settings.model_copy(update={"alert_webhook_allowed_targets": LOOPBACK}), queue=queue)
        assert allowed.webhooks.deliver(first) == "delivered"
        changed = build_worker(settings, queue=queue)  # the default: nothing allow-listed
        assert changed.webhooks.deliver(second) == "failed"
        for runtime in (allowed, changed):
            runtime.engine.dispose()
    assert len(receiver.received) == 1
    assert "loopback" in stored(sessions, second).last_error
