"""The end of enrolments, found in the database by beat (`sahab.programmes`), with an injectable clock.

- Notices at 30, 7 and 1 days before an enrolment ends: each written once (the notice row's primary
  key, under the enrolment's row lock), as a signed webhook delivery (when the organisation has a
  webhook) and an e-mail to its contact address, sent after commit with retries. When beat was away
  past several thresholds, only the latest is sent; the earlier ones are recorded as superseded.
- At expiry the enrolment is `expired`; the organisation's choice is carried out: `continue` moves its
  programme-funded projects to the general pool at the normal price (when the general pool has room),
  `shrink` asks for a decrease to the organisation kind's normal envelope through the normal request
  lifecycle. With no choice when the grace period ends, Sahab shrinks.
- A shrinking enrolment is settled: a project within the normal envelope moves to the general pool;
  when no programme-funded project is left, the enrolment has ended.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from controlplane.dependencies import ServiceDependencies
from controlplane.domain.principal import Principal
from controlplane.domain.resources import Amounts, Resource, amounts, as_plain, exceeds, preset
from controlplane.domain.states import PlatformRole, ProjectState
from controlplane.errors import SahabError
from controlplane.mail import MailError
from controlplane.persistence.database import savepoint, transaction
from controlplane.persistence.models import Organisation, ProgrammeEnrolment, ProgrammeNotice, Project
from controlplane.ports import Alert, Mailer, Message
from controlplane.programmes import repository
from controlplane.programmes.service import Choice, EnrolmentState
from controlplane.quota_requests import service as requests
from controlplane.quota_requests.admission import NoRoom, reserve
from controlplane.quota_requests.schemas import QuotaRequestCreate
from controlplane.webhooks.service import enqueue_alerts

log = logging.getLogger(__name__)
NOTICE_DAYS = (30, 7, 1)
ACTOR = "sahab:programmes"
# Sahab itself files the decrease at expiry: a staff principal sees the organisation, as an operator would.
SAHAB = Principal(
    subject=ACTOR, issuer="sahab", name="Sahab programmes", platform_roles=frozenset({PlatformRole.OPERATOR})
)
EMAIL_PENDING, EMAIL_SENT, EMAIL_FAILED, EMAIL_SKIPPED, SUPERSEDED = (
    "pending",
    "sent",
    "failed",
    "skipped",
    "superseded",
)
NOTICE_TYPE = "sahab.programme.expiry_notice"


@dataclass
class Outcome:
    notices: list[tuple[str, int]] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    continued: list[str] = field(default_factory=list)
    shrinking: list[str] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)
    decreases: list[str] = field(default_factory=list)
    emails: dict[str, int] = field(default_factory=dict)


class ProgrammeScheduler:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        deps: ServiceDependencies,
        mailer: Mailer,
        *,
        email_attempts: int = 5,
        email_lease: timedelta = timedelta(minutes=2),
        email_backoff: timedelta = timedelta(minutes=5),
    ) -> None:
        self.sessions, self.deps, self.mailer = sessions, deps, mailer
        self.email_attempts, self.email_lease, self.email_backoff = email_attempts, email_lease, email_backoff

    def run(self) -> Outcome:
        outcome = Outcome()
        self.notify(outcome)
        self.expire(outcome)
        self.settle(outcome)
        outcome.emails = self.send_emails()
        return outcome

    # -- notices --------------------------------------------------------------------------------
    def notify(self, outcome: Outcome) -> None:
        now = self.deps.clock.now()
        with transaction(self.sessions) as session:
            due = repository.enrolment_ids(
                session,
                [EnrolmentState.ENROLLED.value],
                ends_after=now,
                ends_by=now + timedelta(days=max(NOTICE_DAYS)),
            )
        for enrolment_id in due:
            with transaction(self.sessions) as session:
                sent = self._notify_one(session, enrolment_id, now)
            if sent is not None:
                outcome.notices.append((enrolment_id, sent))

    def _notify_one(self, session: Session, enrolment_id: str, now: datetime) -> int | None:
        enrolment = repository.enrolment_for_update(session, enrolment_id)
        if enrolment is None or enrolment.state != EnrolmentState.ENROLLED.value:
            return None
        written = repository.notice_days(session, enrolment.id)
        due = [d for d in NOTICE_DAYS if d not in written and enrolment.end - timedelta(days=d) <= now < enrolment.end]
        if not due:
            return None
        latest = min(due)
        for days in due:
            if days != latest:  # beat was away past it: the later notice says everything, with the right dates
                repository.add(
                    session,
                    ProgrammeNotice(
                        enrolment_id=enrolment.id,
                        days_before=days,
                        created_at=now,
                        email_state=SUPERSEDED,
                        email_attempts=0,
                    ),
                )
        organisation = repository.organisation(session, enrolment.organisation_id)
        programme = self.deps.programmes.get(enrolment.programme_id)
        payload = notice_payload(
            enrolment,
            programme.name if programme else enrolment.programme_id,
            programme.grace_days if programme else 0,
            latest,
        )
        delivery_id = None
        if organisation.alert_webhook_url:
            delivery_id = enqueue_alerts(session, self.deps.queue, [Alert(organisation.id, payload)], now)[0]
        repository.add(
            session,
            ProgrammeNotice(
                enrolment_id=enrolment.id,
                days_before=latest,
                created_at=now,
                delivery_id=delivery_id,
                email_to=organisation.contact_email,
                email_state=EMAIL_PENDING,
                email_attempts=0,
                email_next_attempt_at=now,
            ),
        )
        session.flush()
        return latest

    def send_emails(self) -> dict[str, int]:
        """Each due notice's e-mail: claimed (its lease) in one transaction, sent with none open, recorded in another."""
        now = self.deps.clock.now()
        counts = {EMAIL_SENT: 0, EMAIL_FAILED: 0, "retry": 0, EMAIL_SKIPPED: 0}
        with transaction(self.sessions) as session:
            keys = repository.notices_due(session, EMAIL_PENDING, now)
        for enrolment_id, days in keys:
            with transaction(self.sessions) as session:
                notice = repository.notice_for_update(session, enrolment_id, days)
                due = notice.email_next_attempt_at if notice else None
                if notice is None or notice.email_state != EMAIL_PENDING or due is None or due > now:
                    continue  # another beat claimed it
                notice.email_attempts += 1
                notice.email_next_attempt_at = now + self.email_lease
                enrolment = repository.enrolment(session, enrolment_id)
                programme = self.deps.programmes.get(enrolment.programme_id)
                message = notice_email(
                    notice.email_to or "",
                    notice_payload(
                        enrolment,
                        programme.name if programme else enrolment.programme_id,
                        programme.grace_days if programme else 0,
                        days,
                    ),
                )
                attempt = notice.email_attempts
            state, error = self._send(message)
            with transaction(self.sessions) as session:
                notice = repository.notice_for_update(session, enrolment_id, days)
                assert notice is not None  # claimed above: notices are never deleted
                if state == EMAIL_SENT:
                    notice.email_state, notice.email_sent_at, notice.email_error = (
                        EMAIL_SENT,
                        self.deps.clock.now(),
                        None,
                    )
                elif state == EMAIL_SKIPPED:
                    notice.email_state, notice.email_error = EMAIL_SKIPPED, error
                elif attempt >= self.email_attempts:
                    notice.email_state, notice.email_error = EMAIL_FAILED, error
                    state = EMAIL_FAILED
                else:
                    notice.email_error, notice.email_next_attempt_at = error, self.deps.clock.now() + self.email_backoff
                    state = "retry"
                counts[state] += 1
        return counts

    def _send(self, message: Message) -> tuple[str, str | None]:
        if not self.mailer.delivers:
            return EMAIL_SKIPPED, "no SMTP server configured (SAHAB_SMTP_HOST)"
        try:
            self.mailer.send(message)
        except MailError as error:
            log.warning("expiry notice to %s not sent: %s", message.to, error)
            return "error", str(error)
        return EMAIL_SENT, None

    # -- expiry ---------------------------------------------------------------------------------
    def expire(self, outcome: Outcome) -> None:
        now = self.deps.clock.now()
        with transaction(self.sessions) as session:
            ids = repository.enrolment_ids(
                session, [EnrolmentState.ENROLLED.value, EnrolmentState.EXPIRED.value], ends_by=now
            )
        for enrolment_id in ids:
            with transaction(self.sessions) as session:
                enrolment = repository.enrolment_for_update(session, enrolment_id)
                assert enrolment is not None  # enrolments are never deleted
                if enrolment.state == EnrolmentState.ENROLLED.value:
                    grace = self._grace(enrolment)
                    enrolment.state, enrolment.updated_at = EnrolmentState.EXPIRED.value, now
                    enrolment.reason = (
                        f"ended on {enrolment.end.date().isoformat()}; choose continue (normal price) "
                        f"or shrink (normal envelope) by {(enrolment.end + grace).date().isoformat()}, "
                        "after which Sahab shrinks"
                    )
                    outcome.expired.append(enrolment.id)
                if enrolment.state != EnrolmentState.EXPIRED.value:
                    continue
                if enrolment.choice == Choice.CONTINUE.value:
                    if self._continue(session, enrolment, now):
                        outcome.continued.append(enrolment.id)
                elif enrolment.choice == Choice.SHRINK.value:
                    self._shrink(session, enrolment, now, f"shrink chosen by {enrolment.chosen_by}", outcome)
                elif now >= enrolment.end + self._grace(enrolment):
                    self._shrink(
                        session,
                        enrolment,
                        now,
                        f"no choice within the grace period of {self._grace(enrolment).days} days",
                        outcome,
                    )

    def _grace(self, enrolment: ProgrammeEnrolment) -> timedelta:
        programme = self.deps.programmes.get(enrolment.programme_id)
        return timedelta(days=programme.grace_days if programme else 0)

    def _continue(self, session: Session, enrolment: ProgrammeEnrolment, now: datetime) -> bool:
        """Every programme-funded project moves to the general pool as it is, all or none."""
        kind = repository.organisation(session, enrolment.organisation_id).kind
        try:
            with savepoint(session):
                for project in self._funded(session, enrolment):
                    self._to_general(session, project, kind)
        except NoRoom as refused:
            enrolment.reason = (
                f"cannot continue at the normal price: the general pool lacks room ({refused}); "
                "choose shrink, or wait for capacity (tried again at every check)"
            )
            enrolment.updated_at = now
            return False
        enrolment.state, enrolment.updated_at = EnrolmentState.CONTINUED.value, now
        enrolment.reason = (
            f"continued at the normal price from {enrolment.end.date().isoformat()} (chosen by {enrolment.chosen_by})"
        )
        return True

    def _shrink(
        self, session: Session, enrolment: ProgrammeEnrolment, now: datetime, why: str, outcome: Outcome
    ) -> None:
        enrolment.state, enrolment.updated_at = EnrolmentState.SHRINKING.value, now
        enrolment.reason = f"shrinking to the normal envelope: {why}"
        outcome.shrinking.append(enrolment.id)
        self._settle_one(session, enrolment, now, outcome)

    # -- settling shrinking enrolments ------------------------------------------------------------
    def settle(self, outcome: Outcome) -> None:
        now = self.deps.clock.now()
        with transaction(self.sessions) as session:
            ids = repository.enrolment_ids(session, [EnrolmentState.SHRINKING.value])
        for enrolment_id in ids:
            with transaction(self.sessions) as session:
                enrolment = repository.enrolment_for_update(session, enrolment_id)
                assert enrolment is not None  # enrolments are never deleted
                if enrolment.state == EnrolmentState.SHRINKING.value and enrolment.id not in outcome.shrinking:
                    self._settle_one(session, enrolment, now, outcome)

    def _settle_one(self, session: Session, enrolment: ProgrammeEnrolment, now: datetime, outcome: Outcome) -> None:
        organisation = repository.organisation(session, enrolment.organisation_id)
        envelope_name = self.deps.policy.envelope.get(organisation.kind)
        envelope = preset(envelope_name) if envelope_name else amounts()
        waiting = []
        for project in self._funded(session, enrolment):
            granted = amounts(project.granted)
            if project.state == ProjectState.ACTIVE.value and not exceeds(granted, envelope):
                try:
                    with savepoint(session):
                        self._to_general(session, project, organisation.kind)
                    continue
                except NoRoom as refused:
                    waiting.append(f"{project.id}: the general pool lacks room ({refused})")
                    continue
            waiting.append(self._decrease(session, enrolment, organisation, project, granted, envelope, outcome))
        if waiting:
            enrolment.reason = enrolment.reason.split("; waiting:")[0] + "; waiting: " + "; ".join(waiting)
        else:
            enrolment.state = EnrolmentState.ENDED.value
            enrolment.reason = enrolment.reason.split("; waiting:")[0] + "; every project is in the normal envelope"
            outcome.ended.append(enrolment.id)
        enrolment.updated_at = now

    def _decrease(
        self,
        session: Session,
        enrolment: ProgrammeEnrolment,
        organisation: Organisation,
        project: Project,
        granted: Amounts,
        envelope: Amounts,
        outcome: Outcome,
    ) -> str:
        """Ask once, through the normal lifecycle, for the project to shrink to the envelope (each resource to the
        lower of its grant and the envelope). A rejected decrease (usage above it) is not asked again: the
        organisation lowers its usage and asks itself, as for any decrease."""
        ours = repository.latest_request_by(session, project.id, ACTOR, enrolment.end)
        if ours is not None:
            return f"{project.id}: decrease {ours.id} is {ours.state}" + (f" ({ours.reason})" if ours.reason else "")
        if project.state != ProjectState.ACTIVE.value:
            return f"{project.id}: {project.state}; the decrease is asked for once it is active"
        target = {r: min(granted[r], envelope[r]) for r in Resource}
        data = QuotaRequestCreate(
            organisation_id=organisation.id,
            region=project.region_id,
            environment=project.environment,
            amounts=as_plain(target),
            justification=f"programme {enrolment.programme_id} ended on {enrolment.end.date().isoformat()}: "
            f"{enrolment.reason.split('; waiting:')[0]}",
        )
        try:
            with savepoint(session):
                request = requests.create(session, self.deps, SAHAB, data)
        except SahabError as error:
            return f"{project.id}: the decrease could not be asked for yet: {error.detail}"
        outcome.decreases.append(request.id)
        return f"{project.id}: decrease {request.id} is {request.state}"

    def _funded(self, session: Session, enrolment: ProgrammeEnrolment) -> list[Project]:
        return repository.funded_projects_for_update(session, enrolment.organisation_id, enrolment.programme_id)

    def _to_general(self, session: Session, project: Project, kind: str) -> None:
        """Move one project's grant, as it is, from its programme's reserve to the general pool (NoRoom if it does not fit)."""
        granted = amounts(project.granted)
        reserve(
            session,
            self.deps.region(project.region_id),
            kind,
            granted,
            granted,
            project.programme_id,
            to_programme=None,
        )
        project.programme_id = None
        project.updated_at = self.deps.clock.now()


def notice_payload(
    enrolment: ProgrammeEnrolment, programme_name: str, grace_days: int, days_before: int
) -> dict[str, Any]:
    return {
        "type": NOTICE_TYPE,
        "organisation_id": enrolment.organisation_id,
        "enrolment_id": enrolment.id,
        "programme": enrolment.programme_id,
        "programme_name": programme_name,
        "days_before": days_before,
        "ends_at": enrolment.end.isoformat(),
        "choice": enrolment.choice,
        "grace_days": grace_days,
        "choices": {"continue": "keep the grant at the normal price", "shrink": "shrink to the normal envelope"},
    }


def notice_email(to: str, payload: dict[str, Any]) -> Message:
    ends = payload["ends_at"][:10]
    chosen = (
        f"You chose: {payload['choice']}.\n"
        if payload["choice"]
        else f"Choose before the grace period ends ({payload['grace_days']} days after that date):\n"
        f"  sahab programmes choose {payload['enrolment_id']} continue   # keep the grant at the normal price\n"
        f"  sahab programmes choose {payload['enrolment_id']} shrink     # shrink to the normal envelope\n"
        "Without a choice, Sahab shrinks the grant to the normal envelope.\n"
    )
    return Message(
        to=to,
        subject=f"Sahab: your enrolment in {payload['programme_name']} ends on {ends} "
        f"(in {payload['days_before']} day{'s' if payload['days_before'] != 1 else ''})",
        body=f"Organisation {payload['organisation_id']}: enrolment {payload['enrolment_id']} in programme "
        f"{payload['programme_name']} ({payload['programme']}) ends on {ends}.\n\n{chosen}",
    )
