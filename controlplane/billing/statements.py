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

from sqlalchemy import or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from controlplane.access import require_organisation, require_role, visible_organisation_ids
from controlplane.billing.billing import Billing
from controlplane.billing.compute import Computed, compute, month_bounds, period_of
from controlplane.domain.principal import Principal
from controlplane.domain.states import PlatformRole, ProjectState
from controlplane.errors import Conflict, Detail, InvalidInput, NotFound
from controlplane.pagination import Page, paginate
from controlplane.persistence.models import Organisation, Project, Statement, StatementSequence, new_id

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


def _current(session: Session, organisation_id: str, period: str, *, for_update: bool = False) -> Statement | None:
    statement = select(Statement).where(
        Statement.organisation_id == organisation_id,
        Statement.period == period,
        Statement.kind == STATEMENT,
        Statement.state != CORRECTED,
    )
    return session.scalar(statement.with_for_update() if for_update else statement)


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
    statement = _current(session, organisation.id, period, for_update=True)
    if statement is None:
        statement = _new(organisation.id, period, STATEMENT, DRAFT, now)
        session.add(statement)
    if statement.state == DRAFT:
        _apply(statement, compute(session, organisation, period, now, billing.prices, billing.discounts), now)
    session.flush()
    return statement


def next_number(session: Session, year: int) -> str:
    """The next number of `year`, taken under the year row's lock until the caller's transaction ends."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(StatementSequence).values(year=year, last=0).on_conflict_do_nothing(index_elements=["year"]))
    sequence = session.scalar(
        select(StatementSequence)
        .where(StatementSequence.year == year)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert sequence is not None
    sequence.last += 1
    session.flush()
    return f"SAH-{year}-{sequence.last:06d}"


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
    statement = _current(session, organisation.id, period, for_update=True)
    if statement is not None and statement.state == ISSUED:
        return statement
    if statement is None:
        statement = _new(organisation.id, period, STATEMENT, DRAFT, now)
        session.add(statement)
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
    original = session.scalar(select(Statement).where(Statement.id == statement_id).with_for_update())
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
    session.add(credit)
    original.state, original.corrected_by_id = CORRECTED, credit.id
    session.flush()  # the original leaves the "current statement" index before its replacement enters it
    organisation = session.get_one(Organisation, original.organisation_id)
    replacement = _new(original.organisation_id, original.period, STATEMENT, ISSUED, now)
    _apply(replacement, compute(session, organisation, original.period, now, billing.prices, billing.discounts), now)
    replacement.replaces_id, replacement.reason, replacement.issued_at = original.id, reason, now
    replacement.number = next_number(session, now.year)
    session.add(replacement)
    session.flush()
    return credit, replacement


def get(session: Session, principal: Principal, statement_id: str) -> Statement:
    statement = session.get(Statement, statement_id)
    if statement is None or not (
        principal.is_staff or statement.organisation_id in visible_organisation_ids(session, principal)
    ):
        raise NotFound(Detail("statement {statement_id} not found", statement_id=statement_id))
    return statement


def view(session: Session, billing: Billing, statement: Statement, now: datetime) -> Statement:
    """A draft is recomputed when read (not stored: reading writes nothing); others are as frozen."""
    if statement.state != DRAFT:
        return statement
    session.expunge(statement)
    organisation = session.get_one(Organisation, statement.organisation_id)
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
    statement = select(Statement)
    if organisation_id is not None:
        require_organisation(session, principal, organisation_id)
        statement = statement.where(Statement.organisation_id == organisation_id)
    elif not principal.is_staff:
        statement = statement.where(Statement.organisation_id.in_(visible_organisation_ids(session, principal)))
    if project_id is not None:
        # A project's statements are its organisation's: each carries the project's own lines and subtotal.
        project = session.get(Project, project_id)
        if project is None or not (
            principal.is_staff or project.organisation_id in visible_organisation_ids(session, principal)
        ):
            raise NotFound(Detail("project {project_id} not found", project_id=project_id))
        statement = statement.where(Statement.organisation_id == project.organisation_id)
    if period is not None:
        statement = statement.where(Statement.period == check_period(period))
    if state is not None:
        statement = statement.where(Statement.state == state)
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
    with_projects = (
        select(Project.organisation_id)
        .where(
            Project.created_at < end,
            or_(Project.state != ProjectState.DECOMMISSIONED.value, Project.updated_at >= start),
        )
        .distinct()
    )
    billed = select(Statement.organisation_id).where(
        Statement.period == period, Statement.kind == STATEMENT, Statement.state != DRAFT
    )
    return sorted(session.scalars(with_projects.where(Project.organisation_id.not_in(billed))))
