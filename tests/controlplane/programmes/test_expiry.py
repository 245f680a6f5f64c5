"""Expiry with a controlled clock: notices at 30, 7 and 1 days, each sent exactly once by webhook and by e-mail
(a real SMTP server on loopback); the choice at expiry; Sahab's own decrease after the grace period, through
the normal lifecycle. Both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from controlplane.capacity import check_totals, lock_region
from controlplane.domain.resources import PRESETS, amounts
from controlplane.errors import Conflict, PermissionDenied
from controlplane.mail import SmtpMailer
from controlplane.persistence.database import transaction
from controlplane.persistence.models import (
    ProgrammeEnrolment,
    ProgrammeNotice,
    Project,
    QuotaRequest,
    WebhookDelivery,
)
from controlplane.programmes import service
from controlplane.programmes.expiry import ProgrammeScheduler
from controlplane.programmes.service import Choice
from controlplane.quota_requests import service as requests
from controlplane.quota_requests.schemas import QuotaRequestCreate
from controlplane.workflows.provisioning import ProvisioningWorkflow
from tests import factories
from tests.support.concurrency import at_once
from tests.support.fakes import InMemoryProvisioner
from tests.support.ports import free_port
from tests.support.smtp import smtp_server


@pytest.fixture
def smtp():
    with smtp_server() as server:
        yield server


@pytest.fixture
def scheduler(sessions, deps, smtp):
    return ProgrammeScheduler(sessions, deps, SmtpMailer(smtp.host, smtp.port, "sahab@cloud.example.ma"))


def enrolled(sessions, deps, *, webhook: bool = True, admin: str = "owner") -> tuple[str, str]:
    with transaction(sessions) as session:
        org = factories.startup(session, admin=admin)
        if webhook:
            org.alert_webhook_url, org.alert_webhook_secret = "https://hooks.startup.example.ma/sahab", "s3cret"
        enrolment = service.apply(session, deps, factories.person(admin), "startup-launch", org.id)
        assert enrolment.state == "enrolled"
        return org.id, enrolment.id


def with_active_project(sessions, deps, org: str, admin: str = "owner", preset: str = "medium") -> str:
    with transaction(sessions) as session:
        return factories.active_project(session, org, deps=deps, requester=admin, environment="prod", preset=preset).id


def assert_in_general_pool(sessions, project_id: str, granted) -> None:
    """The project left the programme's reserve with `granted`, and the totals say so."""
    with transaction(sessions) as session:
        moved = session.get_one(Project, project_id)
        assert moved.programme_id is None and amounts(moved.granted) == granted
        sums = lock_region(session, "rabat-1").sums
        assert sums.business == granted and not any(sums.programme("startup-launch").values())
    assert check_totals(sessions) == {}


def ends_at(sessions, enrolment_id):
    with transaction(sessions) as session:
        return session.get_one(ProgrammeEnrolment, enrolment_id).ends_at


def test_each_notice_is_sent_exactly_once_by_webhook_and_email(sessions, deps, clock, scheduler, smtp):
    org, enrolment = enrolled(sessions, deps)
    end = ends_at(sessions, enrolment)
    clock._now = end - timedelta(days=31)
    assert scheduler.run().notices == []
    for days in (30, 7, 1):
        clock._now = end - timedelta(days=days, hours=-1)
        # several beats at once, and again later: one notice, one delivery, one e-mail
        others = [ProgrammeScheduler(sessions, deps, scheduler.mailer) for _ in range(3)]
        assert at_once([lambda s=s: s.run() for s in [scheduler, *others]]) == []
        scheduler.run()
    messages = smtp.wait_for(3)
    assert len(messages) == 3
    assert [m["Subject"].rsplit("(", 1)[1] for m in messages] == ["in 30 days)", "in 7 days)", "in 1 day)"]
    assert all(m["To"] == f"contact{org[-6:].lstrip('0')}@example.org" for m in messages)
    assert f"sahab programmes choose {enrolment} shrink" in messages[0].get_payload(decode=True).decode()
    with transaction(sessions) as session:
        notices = list(session.scalars(select(ProgrammeNotice).order_by(ProgrammeNotice.days_before.desc())))
        deliveries = list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.created_at)))
    assert [(n.days_before, n.email_state, n.email_attempts) for n in notices] == [
        (30, "sent", 1),
        (7, "sent", 1),
        (1, "sent", 1),
    ]
    assert [d.payload["days_before"] for d in deliveries] == [30, 7, 1]
    assert {d.payload["type"] for d in deliveries} == {"sahab.programme.expiry_notice"}
    assert sorted(d.id for d in deliveries) == sorted(n.delivery_id for n in notices)
    assert sorted(deps.queue.webhooks) == sorted((d.id, 0) for d in deliveries)  # each sent once, after commit


def test_a_beat_that_was_away_sends_only_the_latest_notice(sessions, deps, clock, scheduler, smtp):
    _, enrolment = enrolled(sessions, deps, webhook=False)
    clock._now = ends_at(sessions, enrolment) - timedelta(days=5)
    assert scheduler.run().notices == [(enrolment, 7)]
    [message] = smtp.wait_for(1)
    assert "in 7 days" in message["Subject"]
    with transaction(sessions) as session:
        states = dict(session.execute(select(ProgrammeNotice.days_before, ProgrammeNotice.email_state)).all())
        assert states == {30: "superseded", 7: "sent"}
        assert session.scalar(select(WebhookDelivery.id)) is None  # no webhook set: e-mail only


def test_an_email_the_server_refuses_is_retried_then_failed(sessions, deps, clock):
    _, enrolment = enrolled(sessions, deps, webhook=False)
    scheduler = ProgrammeScheduler(
        sessions,
        deps,
        SmtpMailer("127.0.0.1", free_port(), "s@x.ma", timeout=2),
        email_attempts=2,
        email_backoff=timedelta(minutes=5),
    )
    clock._now = ends_at(sessions, enrolment) - timedelta(days=29)
    assert scheduler.run().emails["retry"] == 1
    assert scheduler.run().emails["retry"] == 0  # not due before its backoff
    clock.advance(minutes=6)
    assert scheduler.run().emails["failed"] == 1
    with transaction(sessions) as session:
        notice = session.scalar(select(ProgrammeNotice))
        assert (notice.email_state, notice.email_attempts) == (
            "failed",
            2,
        ) and "ConnectionRefused" in notice.email_error


def test_continue_moves_the_grant_to_the_general_pool_at_expiry(sessions, deps, clock, scheduler):
    org, enrolment = enrolled(sessions, deps)
    project = with_active_project(sessions, deps, org)
    end = ends_at(sessions, enrolment)
    with transaction(sessions) as session:
        with pytest.raises(Conflict, match="opens on"):
            service.choose(session, deps, factories.person(), enrolment, Choice.CONTINUE)
    clock._now = end - timedelta(days=10)
    with transaction(sessions) as session:
        with pytest.raises(PermissionDenied):  # staff see it, but the choice is the organisation's admins'
            service.choose(session, deps, factories.approver("amal"), enrolment, Choice.CONTINUE)
        service.choose(session, deps, factories.person(), enrolment, Choice.CONTINUE)
    assert scheduler.run().continued == []  # not before the end
    clock._now = end
    outcome = scheduler.run()
    assert outcome.expired == [enrolment] and outcome.continued == [enrolment]
    with transaction(sessions) as session:
        state = session.get_one(ProgrammeEnrolment, enrolment)
        assert state.state == "continued" and "continued at the normal price" in state.reason
    assert_in_general_pool(sessions, project, PRESETS["medium"])


def test_without_a_choice_sahab_shrinks_after_the_grace_period_through_the_lifecycle(sessions, deps, clock, scheduler):
    org, enrolment = enrolled(sessions, deps)
    project = with_active_project(sessions, deps, org)
    end = ends_at(sessions, enrolment)
    clock._now = end
    assert scheduler.run().expired == [enrolment]
    with transaction(sessions) as session:
        expired = session.get_one(ProgrammeEnrolment, enrolment)
        assert expired.state == "expired" and "after which Sahab shrinks" in expired.reason
        # no longer enrolled: a new medium request is the general rules' again
        request = requests.create(
            session,
            deps,
            factories.person(),
            QuotaRequestCreate(
                organisation_id=org, region="rabat-1", environment="dev", preset="medium", justification="more"
            ),
        )
        assert request.state == "submitted"
        requests.cancel(session, deps, factories.person(), request.id, None)
    clock._now = end + timedelta(days=14) - timedelta(seconds=1)
    assert scheduler.run().shrinking == []
    clock._now = end + timedelta(days=14)
    outcome = scheduler.run()
    assert outcome.shrinking == [enrolment] and len(outcome.decreases) == 1
    with transaction(sessions) as session:
        decrease = session.get_one(QuotaRequest, outcome.decreases[0])
        assert decrease.created_by == "sahab:programmes" and decrease.state == "approved"
        assert amounts(decrease.amounts) == PRESETS["small"]
        assert "no choice within the grace period of 14 days" in decrease.justification
        assert "waiting: " in session.get_one(ProgrammeEnrolment, enrolment).reason
    assert outcome.decreases[0] in deps.queue.provisioned
    assert scheduler.run().decreases == [], "asked once"

    # The normal lifecycle: a worker applies the decrease; then the project leaves the reserve.
    workflow = ProvisioningWorkflow(sessions, deps, InMemoryProvisioner(), worker_id="w")
    assert workflow.provision(outcome.decreases[0]) == "active"
    assert scheduler.run().ended == [enrolment]
    with transaction(sessions) as session:
        assert session.get_one(ProgrammeEnrolment, enrolment).state == "ended"
    assert_in_general_pool(sessions, project, PRESETS["small"])


def test_a_decrease_below_usage_is_rejected_as_any_and_not_asked_again(sessions, deps, clock, scheduler):
    org, enrolment = enrolled(sessions, deps)
    project = with_active_project(sessions, deps, org)
    with transaction(sessions) as session:
        session.get_one(Project, project).last_usage = {"vcpus": 10}  # above small's 4; no choice is made
    clock._now = ends_at(sessions, enrolment) + timedelta(days=15)
    outcome = scheduler.run()
    with transaction(sessions) as session:
        decrease = session.get_one(QuotaRequest, outcome.decreases[0])
        assert decrease.state == "rejected" and "in use 10" in decrease.reason
        still = session.get_one(ProgrammeEnrolment, enrolment)
        assert still.state == "shrinking" and f"decrease {decrease.id} is rejected" in still.reason
        assert session.get_one(Project, project).programme_id == "startup-launch"
    assert scheduler.run().decreases == []
