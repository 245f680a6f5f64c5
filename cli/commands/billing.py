"""sahab prices, sahab statements list|show|download|correct, sahab budget set|show|remove."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any, Optional

import typer

from cli.context import handled, state
from cli.output import details, echo, render, table, when

statements_app = typer.Typer(help="Monthly statements and credit notes: list, show, download (CSV, PDF).",
                             no_args_is_help=True)
budget_app = typer.Typer(help="An organisation's monthly budget: alerts at 80 % and 100 %, optionally blocking.",
                         no_args_is_help=True)


class StatementState(str, Enum):
    draft = "draft"
    issued = "issued"
    corrected = "corrected"


class Format(str, Enum):
    csv = "csv"
    pdf = "pdf"


class Language(str, Enum):
    en = "en"
    fr = "fr"
    ar = "ar"


def money(value: str | None, currency: str) -> str:
    return "" if value is None else f"{value} {currency}"


def estimate_line(estimate: dict[str, Any] | None) -> str:
    """'996.96 MAD a month (prices 2026-01, 744 h)' and the programme discount, if any."""
    if not estimate:
        return ""
    text = f"{estimate['amount']} {estimate['currency']} a month (prices {estimate['price_version']}, {estimate['hours']} h"
    if estimate.get("programme"):
        text += f", {estimate['discount_percent']} % off with {estimate['programme']}"
    return text + ")"


def prices(ctx: typer.Context) -> None:
    """The price list: every version, and per resource its basis and the price of one unit-hour."""
    current = state(ctx)
    with current.api() as api:
        data = api.get("/v1/prices")
    currencies = data["currencies"]
    render(current.output, data, lambda d: table(
        ["Version", "From", "Resource", "Charged on", "Unit", f"Business ({currencies['business']})",
         f"Agency ({currencies['agency']})"],
        [[v["version"], v["effective"], name, p["basis"], p["unit"], p["prices"]["business"], p["prices"]["agency"]]
         for v in d["versions"] for name, p in v["resources"].items()],
        title="Prices per unit-hour"))


def _summary_rows(page: dict[str, Any]) -> list[list[Any]]:
    return [[s["id"], s["number"] or "", s["organisation_id"], s["period"], s["kind"].replace("_", " "), s["state"],
             money(s["total"], s["currency"]), when(s["issued_at"])] for s in page["items"]]


@statements_app.command("list")
@handled
def list_(
    ctx: typer.Context,
    org: Optional[str] = typer.Option(None, "--org", help="organisation id"),
    project: Optional[str] = typer.Option(None, "--project", help="statements holding this project"),
    month: Optional[str] = typer.Option(None, "--month", help="YYYY-MM"),
    state_: Optional[StatementState] = typer.Option(None, "--state"),
    all_pages: bool = typer.Option(False, "--all", help="fetch every page"),
) -> None:
    """Statements and credit notes you can see, oldest first."""
    current = state(ctx)
    params = {"organisation_id": org, "project_id": project, "month": month, "state": state_.value if state_ else None}
    with current.api() as api:
        page = api.page("/v1/statements", params, all_pages=all_pages)
    render(current.output, page, lambda p: table(
        ["ID", "Number", "Organisation", "Month", "Kind", "State", "Total", "Issued"], _summary_rows(p), title="Statements"))


def _statement_view(s: dict[str, Any]) -> Any:
    cur = s["currency"]
    head = details([
        ("id", s["id"]), ("number", s["number"] or "not numbered yet (draft)"), ("kind", s["kind"].replace("_", " ")),
        ("state", s["state"]), ("organisation", s["organisation_id"]), ("month", s["period"]),
        ("price versions", ", ".join(s["price_versions"])), ("cancels", s.get("corrects_id")),
        ("replaces", s.get("replaces_id")), ("corrected by", s.get("corrected_by_id")), ("reason", s.get("reason")),
        ("total at list prices", money(s["list_total"], cur)), ("programme discounts", money(s["discount_total"], cur)),
        ("total", money(s["total"], cur)),
    ])
    lines = table(["Project", "Resource", "Charged on", "Prices", "Quantity", "Unit price", "Discount", "Amount"],
                  [[line["project_id"], line["resource"], line["basis"], line["price_version"],
                    f"{line['quantity']} {line['unit']}", line["unit_price"],
                    f"{line['discount_percent']} %" + (f" ({line['programme']})" if line.get("programme") else ""),
                    money(line["amount"], cur)] for line in s["lines"]], title="Lines")
    projects = table(["Project", "Region", "Env", "Amount"],
                     [[p["project_id"], p["region_id"], p["environment"], money(p["amount"], cur)] for p in s["projects"]],
                     title="Per project")
    from rich.console import Group

    return Group(head, lines, projects)


@statements_app.command()
@handled
def show(ctx: typer.Context, statement_id: str = typer.Argument(..., metavar="ID"),
         project: Optional[str] = typer.Option(None, "--project", help="only this project's lines and totals")) -> None:
    """One statement with its lines and each project's subtotal (a draft is computed as of now)."""
    current = state(ctx)
    with current.api() as api:
        data = api.get(f"/v1/statements/{statement_id}", params={"project_id": project})
    render(current.output, data, _statement_view)


@statements_app.command()
@handled
def download(
    ctx: typer.Context,
    statement_id: str = typer.Argument(..., metavar="ID"),
    format_: Format = typer.Option(Format.pdf, "--format", help="csv (every line) or pdf"),
    lang: Language = typer.Option(Language.en, "--lang", help="language of the PDF"),
    out: Optional[Path] = typer.Option(None, "--out", help="file to write (default: NUMBER[-LANG].csv|pdf here)"),
    project: Optional[str] = typer.Option(None, "--project", help="only this project's lines and totals"),
) -> None:
    """Write a statement to a file, CSV or PDF (English, French or Arabic)."""
    current = state(ctx)
    with current.api() as api:
        statement = api.get(f"/v1/statements/{statement_id}")
        params = {"lang": lang.value if format_ is Format.pdf else None, "project_id": project}
        content = api.download(f"/v1/statements/{statement_id}/{format_.value}", params)
    name = statement["number"] or f"{statement['organisation_id']}-{statement['period']}-draft"
    target = out or Path(f"{name}-{lang.value}.pdf" if format_ is Format.pdf else f"{name}.csv")
    target.write_bytes(content)
    render(current.output, {"id": statement_id, "file": str(target), "bytes": len(content)},
           lambda d: f"Wrote {d['file']} ({d['bytes']} bytes).")


@statements_app.command()
@handled
def correct(ctx: typer.Context, statement_id: str = typer.Argument(..., metavar="ID"),
            reason: str = typer.Option(..., "--reason", help="why the statement is corrected")) -> None:
    """Operators: cancel an issued statement with a credit note and issue its replacement."""
    current = state(ctx)
    with current.api() as api:
        data = api.post(f"/v1/statements/{statement_id}/correct", json={"reason": reason})
    render(current.output, data, lambda d: (
        f"Credit note {d['credit_note']['number']} cancels {statement_id} ({money(d['credit_note']['total'], d['credit_note']['currency'])}); "
        f"replacement {d['replacement']['number']}: {money(d['replacement']['total'], d['replacement']['currency'])}."))


def _org(api: Any, org: str | None) -> str:
    from cli.commands.requests import default_org

    return org or default_org(api)


def _budget_view(b: dict[str, Any]) -> Any:
    cur = b["currency"]
    return details([
        ("organisation", b["organisation_id"]), ("budget", money(b["amount"], cur) or "none"),
        ("blocks increases", "yes" if b["block_increases"] else "no"), ("month", b["period"]),
        ("spent this month", money(b["spent"], cur)), ("monthly estimate", money(b["estimate"], cur)),
        ("alert sent", f"{b['alerted_threshold']} %" if b["alerted_threshold"] else "none yet"),
        ("updated", f"{when(b['updated_at'])} by {b['updated_by']}" if b["updated_by"] else ""),
    ])


def _budget(ctx: typer.Context, org: str | None, send: Any) -> None:
    """Send one call to the organisation's budget (`send(api, path)`) and show the budget it answers."""
    current = state(ctx)
    with current.api() as api:
        data = send(api, f"/v1/organisations/{_org(api, org)}/budget")
    render(current.output, data, _budget_view)


@budget_app.command("set")
@handled
def set_(
    ctx: typer.Context,
    amount: str = typer.Argument(..., metavar="AMOUNT", help="monthly budget in your currency, e.g. 5000 or 5000.50"),
    org: Optional[str] = typer.Option(None, "--org", help="organisation id (default: your only organisation)"),
    block: bool = typer.Option(False, "--block/--no-block", help="refuse increase requests whose estimate exceeds it"),
) -> None:
    """Set the monthly budget (organisation admins)."""
    _budget(ctx, org, lambda api, path: api.put(path, json={"amount": amount, "block_increases": block}))


@budget_app.command("show")
@handled
def show_budget(ctx: typer.Context, org: Optional[str] = typer.Option(None, "--org")) -> None:
    """The budget, this month's spend so far and the monthly estimate of what is granted."""
    _budget(ctx, org, lambda api, path: api.get(path))


@budget_app.command("remove")
@handled
def remove(ctx: typer.Context, org: Optional[str] = typer.Option(None, "--org")) -> None:
    """Remove the budget (organisation admins)."""
    current = state(ctx)
    with current.api() as api:
        org_id = _org(api, org)
        api.delete(f"/v1/organisations/{org_id}/budget")
    echo(f"Budget of {org_id} removed.")


def register(app: typer.Typer) -> None:
    app.command("prices")(handled(prices))
    app.add_typer(statements_app, name="statements")
    app.add_typer(budget_app, name="budget")
