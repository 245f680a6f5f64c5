"""Monthly budgets: set by an organisation's admins, read by its members (and staff).

- The estimate of a request is what its project would cost for a whole month at the prices and the
  discount in force today, every priced resource counted as fully used (compute.estimate).
- A budget that blocks increases refuses a request that raises a project's quota when the
  organisation's estimate with it (every live project, this one at the requested amounts) is above
  the budget: 409 budget-exceeded with the budget and the estimate. Decreases are never blocked.
- Alerts: when the month-to-date total of the running month's statement reaches 80 % and 100 % of the
  budget, one signed webhook each (controlplane.webhooks), each sent once per month."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy.orm import Session

from controlplane.access import require_organisation
from controlplane.billing import repository
from controlplane.billing.billing import Billing
from controlplane.billing.compute import compute, estimate, period_of
from controlplane.billing.discounts import Discount, in_force
from controlplane.domain.principal import Principal
from controlplane.errors import BudgetExceeded, Detail, InvalidInput
from controlplane.persistence.models import Budget, Organisation
from controlplane.ports import Alert

THRESHOLDS = (80, 100)
AMOUNT = re.compile(r"-?\d{1,20}(\.\d{1,20})?")  # no exponent, no sign games: checked for range below
MAX_BUDGET = Decimal("1e15")


def parse_amount(value: Any) -> Decimal:
    """A budget: a decimal number > 0 with at most 2 decimals, given as a string or a number."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidInput(
            Detail('amount must be a decimal string such as "5000.00", got {value}', value=repr(value)),
            parameter="amount",
        )
    text = str(value).strip()
    if not AMOUNT.fullmatch(text):
        raise InvalidInput(
            Detail("amount: {value} is not a plain decimal number such as 5000 or 5000.50", value=repr(value)),
            parameter="amount",
        )
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise InvalidInput(
            Detail("amount: {value} is not a decimal number", value=repr(value)), parameter="amount"
        ) from None
    if not amount.is_finite() or amount <= 0 or amount >= MAX_BUDGET or amount != amount.quantize(Decimal("0.01")):
        raise InvalidInput(
            Detail(
                "amount must be > 0, below {maximum:,.0f}, with at most 2 decimals; got {value}",
                maximum=MAX_BUDGET,
                value=repr(value),
            ),
            parameter="amount",
        )
    return amount.quantize(Decimal("0.01"))


def _out(
    budget: Budget | None, organisation: Organisation, billing: Billing, session: Session, now: datetime
) -> dict[str, Any]:
    spent = compute(session, organisation, period_of(now), now, billing.prices, billing.discounts).total
    projected = organisation_estimate(session, billing, organisation, now)
    return {
        "organisation_id": organisation.id,
        "amount": budget.amount if budget else None,
        "currency": billing.prices.currency(organisation.kind),
        "block_increases": budget.block_increases if budget else False,
        "period": period_of(now),
        "spent": str(spent),
        "estimate": projected["amount"],
        "alerted_threshold": budget.alerted_threshold if budget and budget.alerted_period == period_of(now) else 0,
        "updated_by": budget.updated_by if budget else None,
        "updated_at": budget.updated_at if budget else None,
    }


def set_budget(
    session: Session,
    billing: Billing,
    principal: Principal,
    organisation_id: str,
    amount: Any,
    block_increases: bool,
    now: datetime,
) -> dict[str, Any]:
    value = parse_amount(amount)
    organisation = require_organisation(session, principal, organisation_id, admin=True, operator_override=False)
    budget = repository.budget(session, organisation.id, for_update=True)
    if budget is None:
        budget = Budget(organisation_id=organisation.id, alerted_threshold=0)
        repository.add(session, budget)
    elif Decimal(budget.amount) != value:
        budget.alerted_period, budget.alerted_threshold = None, 0  # a new amount: its thresholds are new too
    budget.amount, budget.currency = str(value), billing.prices.currency(organisation.kind)
    budget.block_increases, budget.updated_by, budget.updated_at = block_increases, principal.subject, now
    session.flush()
    return _out(budget, organisation, billing, session, now)


def get_budget(
    session: Session, billing: Billing, principal: Principal, organisation_id: str, now: datetime
) -> dict[str, Any]:
    organisation = require_organisation(session, principal, organisation_id)
    return _out(repository.budget(session, organisation.id), organisation, billing, session, now)


def remove_budget(session: Session, principal: Principal, organisation_id: str) -> None:
    organisation = require_organisation(session, principal, organisation_id, admin=True, operator_override=False)
    budget = repository.budget(session, organisation.id)
    if budget is not None:
        repository.remove_budget(session, budget)
        session.flush()


def _discount_today(session: Session, billing: Billing, organisation: Organisation, now: datetime) -> Discount | None:
    today = now.date()
    return in_force(billing.discounts.discounts(session, organisation.id, today, today + timedelta(days=1)), today)


def request_estimate(
    session: Session, billing: Billing, organisation: Organisation, amounts: dict[str, int], now: datetime
) -> dict[str, Any]:
    """The monthly cost of one project holding `amounts` (shown on every request, before and after it is sent)."""
    discount = _discount_today(session, billing, organisation, now)
    return estimate(billing.prices, organisation.kind, amounts, now, discount)


def organisation_estimate(
    session: Session,
    billing: Billing,
    organisation: Organisation,
    now: datetime,
    replacing: tuple[str | None, dict[str, int]] | None = None,
) -> dict[str, Any]:
    """The monthly cost of every live project of the organisation; `replacing` = (project id or None for a
    new project, amounts) puts a request's amounts in place of that project's grant."""
    discount = _discount_today(session, billing, organisation, now)
    grants = repository.live_grants(session, organisation.id)
    if replacing is not None:
        grants[replacing[0] or "new"] = replacing[1]
    total = sum(
        (
            Decimal(estimate(billing.prices, organisation.kind, amounts, now, discount)["amount"])
            for amounts in grants.values()
        ),
        Decimal("0.00"),
    )
    return {"amount": str(total), "currency": billing.prices.currency(organisation.kind)}


def live_project_id(session: Session, organisation_id: str, region_id: str, environment: str) -> str | None:
    """The project a request for this region and environment would change (None: it would create one)."""
    return repository.live_project_id(session, organisation_id, region_id, environment)


def quote(
    session: Session,
    billing: Billing,
    principal: Principal,
    organisation_id: str,
    region_id: str,
    environment: str,
    requested: dict[str, int],
    now: datetime,
) -> dict[str, Any]:
    """What a request would cost per month, before it is sent (nothing is written): the project at the
    requested amounts, the organisation with it, and whether its budget would hold it (members)."""
    organisation = require_organisation(session, principal, organisation_id)
    project_id = live_project_id(session, organisation.id, region_id, environment)
    whole = organisation_estimate(session, billing, organisation, now, replacing=(project_id, requested))
    budget = repository.budget(session, organisation.id)
    return {
        "request": request_estimate(session, billing, organisation, requested, now),
        "organisation": whole,
        "budget": budget.amount if budget else None,
        "block_increases": bool(budget and budget.block_increases),
        "within_budget": None if budget is None else Decimal(whole["amount"]) <= Decimal(budget.amount),
    }


def check_increase(
    session: Session,
    billing: Billing,
    organisation: Organisation,
    project_id: str | None,
    requested: dict[str, int],
    now: datetime,
) -> None:
    """Refuse an increase that takes the organisation's monthly estimate above a blocking budget."""
    budget = repository.budget(session, organisation.id)
    if budget is None or not budget.block_increases:
        return
    projected = organisation_estimate(session, billing, organisation, now, replacing=(project_id, requested))
    if Decimal(projected["amount"]) > Decimal(budget.amount):
        raise BudgetExceeded(
            Detail(
                "organisation {organisation_id}'s monthly estimate with this request, {estimate} {currency}, is above its "
                "budget of {budget} {currency}, which blocks increases; an admin may raise the budget or stop it blocking "
                "(sahab budget set)",
                organisation_id=organisation.id,
                estimate=Decimal(projected["amount"]),
                budget=Decimal(budget.amount),
                currency=budget.currency,
            ),
            budget=budget.amount,
            estimate=projected["amount"],
            currency=budget.currency,
            period=period_of(now),
        )


def due_alerts(session: Session, billing: Billing, now: datetime) -> list[Alert]:
    """Thresholds reached this month and not announced yet, one alert each; marks them announced."""
    period = period_of(now)
    alerts = []
    for budget in repository.budgets_for_update(session):
        if budget.alerted_period != period:
            budget.alerted_period, budget.alerted_threshold = period, 0
        if budget.alerted_threshold >= THRESHOLDS[-1]:
            continue
        organisation = repository.organisation(session, budget.organisation_id)
        spent = compute(session, organisation, period, now, billing.prices, billing.discounts).total
        amount = Decimal(budget.amount)
        for threshold in THRESHOLDS:
            if threshold > budget.alerted_threshold and spent * 100 >= amount * threshold:
                alerts.append(
                    Alert(
                        organisation.id,
                        {
                            "type": "sahab.budget.threshold",
                            "organisation_id": organisation.id,
                            "period": period,
                            "threshold": threshold,
                            "budget": budget.amount,
                            "spent": str(spent),
                            "currency": budget.currency,
                            "at": now.isoformat(),
                        },
                    )
                )
                budget.alerted_threshold = threshold
    session.flush()
    return alerts
