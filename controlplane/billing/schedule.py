"""The billing run (Celery beat, every SAHAB_STATEMENTS_INTERVAL_SECONDS): it finds its work in the
database, so a run missed (beat down at midnight) or repeated does no harm.

1. Last month's statements of every organisation that had a project then, each issued in its own
   transaction (one failure does not hold up the others; the next run tries it again).
2. This month's drafts, refreshed for every organisation with a live project.
3. Budget alerts due, handed to the signed webhook's outbox in the transaction that marks them sent."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from controlplane.billing import budgets, repository, statements
from controlplane.billing.billing import Billing
from controlplane.billing.compute import previous_period
from controlplane.persistence.database import transaction
from controlplane.ports import Clock, TaskQueue
from controlplane.webhooks.service import enqueue_alerts

log = logging.getLogger(__name__)


def run(sessions: sessionmaker[Session], billing: Billing, clock: Clock, queue: TaskQueue) -> dict[str, Any]:
    now = clock.now()
    period = previous_period(now)
    with transaction(sessions) as session:
        to_issue = statements.organisations_to_bill(session, period)
    issued, failed = [], []
    for organisation_id in to_issue:
        try:
            with transaction(sessions) as session:
                organisation = repository.organisation(session, organisation_id)
                issued.append(statements.issue(session, billing, organisation, period, now).number)
        except Exception:
            log.exception("statement of %s for %s not issued; the next run tries again", organisation_id, period)
            failed.append(organisation_id)
    with transaction(sessions) as session:
        live = repository.organisations_with_live_projects(session)
    for organisation_id in live:
        with transaction(sessions) as session:
            statements.refresh_draft(session, billing, repository.organisation(session, organisation_id), now)
    with transaction(sessions) as session:
        alerts = budgets.due_alerts(session, billing, now)
        enqueue_alerts(session, queue, alerts, now)
    return {"period": period, "issued": issued, "failed": failed, "drafts": len(live), "alerts": len(alerts)}
