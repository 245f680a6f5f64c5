"""Prices, statements (list, show, CSV/PDF, corrections by operators) and budgets. Visibility is usage's:
members see their organisations' statements and budget, staff see all, others get 404."""

from __future__ import annotations

from decimal import Decimal
from functools import partial
from typing import Any, Literal

from fastapi import Query, Response

from api import i18n
from api.deps import CallerDep, DependenciesDep, SessionDep
from api.routes.common import Cursor, Limit, PageOut, authenticated_router
from controlplane.access import require_organisation
from controlplane.billing import budgets, exports, statements
from controlplane.billing.billing import Billing
from controlplane.billing.schemas import (
    BudgetIn,
    BudgetOut,
    Correction,
    CorrectionOut,
    EstimateOut,
    StatementOut,
    StatementSummary,
)
from controlplane.dependencies import ServiceDependencies
from controlplane.domain.resources import as_plain
from controlplane.errors import DependencyUnavailable, Detail
from controlplane.persistence.models import Budget, Organisation, Statement
from controlplane.quota_requests.schemas import QuotaRequestCreate
from controlplane.quota_requests.service import requested_amounts

router = authenticated_router(tags=["prices and statements"])


def _billing(deps: ServiceDependencies) -> Billing:
    if deps.billing is None:
        raise DependencyUnavailable(Detail("billing is not configured in this process"))
    return deps.billing


def _full(statement: Statement) -> StatementOut:
    summary = StatementSummary.model_validate(statement).model_dump()
    return StatementOut(**summary, lines=statement.lines, projects=statements.project_subtotals(statement))


@router.get("/v1/prices")
def prices(deps: DependenciesDep) -> dict[str, Any]:
    """The price list, every version with its effective date; per resource: basis (granted quota or
    measured use), unit and the price of one unit-hour per organisation kind."""
    return _billing(deps).prices.as_dict()


@router.post("/v1/prices/estimate", response_model=EstimateOut)
def estimate(data: QuotaRequestCreate, session: SessionDep, deps: DependenciesDep, caller: CallerDep) -> EstimateOut:
    """What a quota request would cost per month, before it is sent (nothing is written): the project at the
    requested amounts, the organisation with it, and whether a blocking budget would refuse it."""
    billing = _billing(deps)
    organisation = require_organisation(session, caller, data.organisation_id)
    requested = as_plain(requested_amounts(data, deps.region(data.region)))
    now = deps.clock.now()
    project_id = budgets.live_project_id(session, organisation.id, data.region, data.environment)
    whole = budgets.organisation_estimate(session, billing, organisation, now, replacing=(project_id, requested))
    budget = session.get(Budget, organisation.id)
    return EstimateOut(
        request=budgets.request_estimate(session, billing, organisation, requested, now),
        organisation=whole,
        budget=budget.amount if budget else None,
        block_increases=bool(budget and budget.block_increases),
        within_budget=None if budget is None else Decimal(whole["amount"]) <= Decimal(budget.amount),
    )


@router.get("/v1/statements", response_model=PageOut[StatementSummary])
def list_statements(
    session: SessionDep,
    caller: CallerDep,
    limit: Limit,
    cursor: Cursor = None,
    organisation_id: str | None = None,
    project_id: str | None = Query(None, description="statements holding this project"),
    month: str | None = Query(None, description="YYYY-MM"),
    state: Literal["draft", "issued", "corrected"] | None = None,
) -> PageOut[StatementSummary]:
    page = statements.list_visible(
        session,
        caller,
        cursor=cursor,
        limit=limit,
        organisation_id=organisation_id,
        project_id=project_id,
        period=month,
        state=state,
    )
    return PageOut(items=[StatementSummary.model_validate(s) for s in page.items], next_cursor=page.next_cursor)


@router.get("/v1/statements/{statement_id}", response_model=StatementOut)
def show_statement(
    statement_id: str,
    session: SessionDep,
    deps: DependenciesDep,
    caller: CallerDep,
    project_id: str | None = Query(None, description="only this project's lines and totals"),
) -> StatementOut:
    """A draft is recomputed from the samples as it is read; issued and corrected statements are frozen.
    With project_id: that project's statement (its lines, its totals)."""
    statement = statements.get(session, caller, statement_id)
    return _full(
        statements.for_project(statements.view(session, _billing(deps), statement, deps.clock.now()), project_id)
    )


@router.get(
    "/v1/statements/{statement_id}/csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}}
)
def statement_csv(
    statement_id: str,
    session: SessionDep,
    deps: DependenciesDep,
    caller: CallerDep,
    project_id: str | None = Query(None, description="only this project's lines and totals"),
) -> Response:
    statement = statements.view(
        session, _billing(deps), statements.get(session, caller, statement_id), deps.clock.now()
    )
    statement = statements.for_project(statement, project_id)
    return Response(
        exports.to_csv(statement),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{_filename(statement)}.csv"'},
    )


@router.get(
    "/v1/statements/{statement_id}/pdf", response_class=Response, responses={200: {"content": {"application/pdf": {}}}}
)
def statement_pdf(
    statement_id: str,
    session: SessionDep,
    deps: DependenciesDep,
    caller: CallerDep,
    lang: Literal["en", "fr", "ar"] = Query("en", description="language of the document"),
    project_id: str | None = Query(None, description="only this project's lines and totals"),
) -> Response:
    statement = statements.view(
        session, _billing(deps), statements.get(session, caller, statement_id), deps.clock.now()
    )
    statement = statements.for_project(statement, project_id)
    organisation = session.get_one(Organisation, statement.organisation_id)
    return Response(
        exports.to_pdf(statement, organisation, lang, partial(i18n.translate, language=lang)),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{_filename(statement)}-{lang}.pdf"'},
    )


def _filename(statement: Statement) -> str:
    return statement.number or f"{statement.organisation_id}-{statement.period}-draft"


@router.post("/v1/statements/{statement_id}/correct", response_model=CorrectionOut)
def correct_statement(
    statement_id: str, data: Correction, session: SessionDep, deps: DependenciesDep, caller: CallerDep
) -> CorrectionOut:
    """Operators: a credit note cancels the issued statement (which becomes corrected, its figures kept) and
    a replacement is issued, computed again from the samples and the price list."""
    credit, replacement = statements.correct(
        session, _billing(deps), caller, statement_id, data.reason, deps.clock.now()
    )
    return CorrectionOut(credit_note=_full(credit), replacement=_full(replacement))


@router.get("/v1/organisations/{organisation_id}/budget", response_model=BudgetOut)
def show_budget(organisation_id: str, session: SessionDep, deps: DependenciesDep, caller: CallerDep) -> BudgetOut:
    """The monthly budget (amount null: none set), month-to-date spend and the monthly estimate (members)."""
    return BudgetOut(**budgets.get_budget(session, _billing(deps), caller, organisation_id, deps.clock.now()))


@router.put("/v1/organisations/{organisation_id}/budget", response_model=BudgetOut)
def set_budget(
    organisation_id: str, data: BudgetIn, session: SessionDep, deps: DependenciesDep, caller: CallerDep
) -> BudgetOut:
    """Organisation admins. Alerts at 80 % and 100 % go to the alert webhook, once each per month."""
    return BudgetOut(
        **budgets.set_budget(
            session, _billing(deps), caller, organisation_id, data.amount, data.block_increases, deps.clock.now()
        )
    )


@router.delete("/v1/organisations/{organisation_id}/budget", status_code=204, response_class=Response)
def remove_budget(organisation_id: str, session: SessionDep, caller: CallerDep) -> Response:
    budgets.remove_budget(session, caller, organisation_id)
    return Response(status_code=204)
