"""Statements: draft (the month is running) -> issued (frozen, numbered) -> corrected.

A draft is refreshed by the beat run and recomputed whenever it is read. Issuing freezes the figures
and takes the next number of the year in the same transaction (StatementSequence's row lock), so
numbers are gap-free and unique however many processes issue at once. A correction never edits an
issued statement: it issues a credit note that cancels it (its lines negated, referencing it), marks
it corrected, and issues a replacement computed again from the samples and the price list."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from controlplane.access import require_organisation, require_role
from controlplane.billing import repository
from controlplane.billing.billing import Billing
from controlplane.billing.compute import Computed, compute, month_bounds, period_of
from controlplane.domain.principal import Principal
from controlplane.domain.states import PlatformRole
from controlplane.errors import Conflict, Detail, InvalidInput, NotFound
from controlplane.pagination import Page, paginate
from controlplane.persistence.models import Organisation, Statement, new_id

DRAFT, ISSUED, CORRECTED = "draft", "issued", "corrected"
STATEMENT, CREDIT_NOTE = "statement", "credit_note"


def check_period(period: str) -> str:
    try:
        year, month = period.split("-")
        if len(year) != 4 or len(month) != 2 or not 1 <= int(month) <= 12 or int(year) < 1970:
            raise ValueError
    except ValueError:
        raise InvalidInput(
            Detail("month: {period} is not a month written YYYY-MM (e.g. 2026-11)", period=repr(period)),
            parameter="month",
        ) from None
    return period


def _apply(statement: Statement, computed: Computed, now: datetime) -> None:
    statement.currency = computed.currency
    statement.lines = computed.lines
    statement.price_versions = computed.price_versions
    statement.list_total, statement.discount_total, statement.total = (
        str(computed.list_total),
        str(computed.discount_total),
        str(computed.total),
    )
    statement.computed_at = now


def _new(organisation_id: str, period: str, kind: str, state: str, now: datetime) -> Statement:
    return Statement(
        id=new_id("stm"),
        organisation_id=organisation_id,
        period=period,
        kind=kind,
        state=state,
        currency="",
        price_versions=[],
        lines=[],
        list_total="0.00",
        discount_total="0.00",
        total="0.00",
        computed_at=now,
        created_at=now,
    )


def refresh_draft(session: Session, billing: Billing, organisation: Organisation, now: datetime) -> Statement:
    """The running month's draft of the organisation, created or recomputed."""
    period = period_of(now)
    statement = repository.current_statement(session, organisation.id, period, for_update=True)
    if statement is None:
        statement = _new(organisation.id, period, STATEMENT, DRAFT, now)
        repository.add(session, statement)
    if statement.state == DRAFT:
        _apply(statement, compute(session, organisation, period, now, billing.prices, billing.discounts), now)
    session.flush()
    return statement


def next_number(session: Session, year: int) -> str:
    """The next number of `year`, taken under the year row's lock until the caller's transaction ends."""
    return f"SAH-{year}-{repository.take_number(session, year):06d}"


def issue(session: Session, billing: Billing, organisation: Organisation, period: str, now: datetime) -> Statement:
    """Freeze and number the month's statement once the month is over (idempotent: an issued one is returned)."""
    _, end = month_bounds(check_period(period))
    if end > now:
        raise Conflict(
            Detail(
                "the month {period} is still running: its statement is a draft until {end}",
                period=period,
                end=end.isoformat(),
            )
        )
    statement = repository.current_statement(session, organisation.id, period, for_update=True)
    if statement is not None and statement.state == ISSUED:
        return statement
    if statement is None:
        statement = _new(organisation.id, period, STATEMENT, DRAFT, now)
        repository.add(session, statement)
    _apply(statement, compute(session, organisation, period, now, billing.prices, billing.discounts), now)
    statement.state, statement.issued_at = ISSUED, now
    statement.number = next_number(session, now.year)
    session.flush()
    return statement


def correct(
    session: Session, billing: Billing, principal: Principal, statement_id: str, reason: str, now: datetime
) -> tuple[Statement, Statement]:
    """Operators: cancel an issued statement with a credit note and issue its replacement."""
    require_role(principal, PlatformRole.OPERATOR)
    original = repository.statement_for_update(session, statement_id)
    if original is None:
        raise NotFound(Detail("statement {statement_id} not found", statement_id=statement_id))
    if original.kind != STATEMENT or original.state != ISSUED:
        raise Conflict(
            Detail(
                "statement {statement_id} is a {kind} in state {state}; only an issued statement can be corrected",
                statement_id=original.id,
                kind=original.kind.replace("_", " "),
                state=original.state,
            )
        )
    credit = _new(original.organisation_id, original.period, CREDIT_NOTE, ISSUED, now)
    credit.currency, credit.price_versions = original.currency, list(original.price_versions)
    credit.lines = [
        {
            **line,
            "quantity": str(-Decimal(line["quantity"])),
            "list_amount": str(-Decimal(line["list_amount"])),
            "amount": str(-Decimal(line["amount"])),
        }
        for line in original.lines
    ]
    credit.list_total, credit.discount_total, credit.total = (
        str(-Decimal(original.list_total)),
        str(-Decimal(original.discount_total)),
        str(-Decimal(original.total)),
    )
    credit.corrects_id, credit.reason, credit.issued_at = original.id, reason, now
    credit.number = next_number(session, now.year)
    repository.add(session, credit)
    original.state, original.corrected_by_id = CORRECTED, credit.id
    session.flush()  # the original leaves the "current statement" index before its replacement enters it
    organisation = repository.organisation(session, original.organisation_id)
    replacement = _new(original.organisation_id, original.period, STATEMENT, ISSUED, now)
    _apply(replacement, compute(session, organisation, original.period, now, billing.prices, billing.discounts), now)
    replacement.replaces_id, replacement.reason, replacement.issued_at = original.id, reason, now
    replacement.number = next_number(session, now.year)
    repository.add(session, replacement)
    session.flush()
    return credit, replacement


def get(session: Session, principal: Principal, statement_id: str) -> Statement:
    statement = repository.visible_statement(session, principal, statement_id)
    if statement is None:
        raise NotFound(Detail("statement {statement_id} not found", statement_id=statement_id))
    return statement


def view(session: Session, billing: Billing, statement: Statement, now: datetime) -> Statement:
    """A draft is recomputed when read (not stored: reading writes nothing); others are as frozen."""
    if statement.state != DRAFT:
        return statement
    session.expunge(statement)
    organisation = repository.organisation(session, statement.organisation_id)
    _apply(statement, compute(session, organisation, statement.period, now, billing.prices, billing.discounts), now)
    return statement


def list_visible(
    session: Session,
    principal: Principal,
    *,
    cursor: str | None,
    limit: int,
    organisation_id: str | None = None,
    project_id: str | None = None,
    period: str | None = None,
    state: str | None = None,
) -> Page[Statement]:
    if organisation_id is not None:
        require_organisation(session, principal, organisation_id)
    project = None
    if project_id is not None:
        # A project's statements are its organisation's: each carries the project's own lines and subtotal.
        project = repository.visible_project(session, principal, project_id)
        if project is None:
            raise NotFound(Detail("project {project_id} not found", project_id=project_id))
    statement = repository.visible_statements(
        principal,
        organisation_id=organisation_id,
        of_project=project,
        period=check_period(period) if period is not None else None,
        state=state,
    )
    return paginate(session, statement, Statement, cursor, limit)


def for_project(statement: Statement, project_id: str | None) -> Statement:
    """A project's statement: a detached copy holding only that project's lines, its totals summed from
    them (the stored statement is not touched). None: the whole statement."""
    if project_id is None:
        return statement
    lines = [line for line in statement.lines if line["project_id"] == project_id]
    if not lines:
        raise NotFound(
            Detail(
                "statement {statement_id} has no line for project {project_id}",
                statement_id=statement.id,
                project_id=project_id,
            )
        )
    copy = Statement(**{column.key: getattr(statement, column.key) for column in Statement.__table__.columns})
    copy.lines = lines
    list_total = sum((Decimal(line["list_amount"]) for line in lines), Decimal("0.00"))
    total = sum((Decimal(line["amount"]) for line in lines), Decimal("0.00"))
    copy.list_total, copy.total, copy.discount_total = str(list_total), str(total), str(list_total - total)
    return copy


def project_subtotals(statement: Statement) -> list[dict[str, Any]]:
    totals: dict[str, dict[str, Any]] = {}
    for line in statement.lines:
        entry = totals.setdefault(
            line["project_id"],
            {
                "project_id": line["project_id"],
                "region_id": line["region_id"],
                "environment": line["environment"],
                "list_amount": Decimal("0.00"),
                "amount": Decimal("0.00"),
            },
        )
        entry["list_amount"] += Decimal(line["list_amount"])
        entry["amount"] += Decimal(line["amount"])
    return [{**t, "list_amount": str(t["list_amount"]), "amount": str(t["amount"])} for t in totals.values()]


def organisations_to_bill(session: Session, period: str) -> list[str]:
    """Organisations with a project that may have lived in the month and no issued statement for it yet."""
    start, end = month_bounds(period)
    return repository.organisations_to_bill(session, start, end, period)
