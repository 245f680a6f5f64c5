"""sahab prices, sahab statements list|show|download|correct, sahab budget set|show|remove."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any

import typer
from rich.console import Group

from cli.commands.orgs import default_org
from cli.context import handled, state
from cli.i18n import N_, _, ngettext, number
from cli.output import details, echo, render, table, when

statements_app = typer.Typer(
    help="Monthly statements and credit notes: list, show, download (CSV, PDF).", no_args_is_help=True
)
budget_app = typer.Typer(
    help="An organisation's monthly budget: alerts at 80 % and 100 %, optionally blocking.", no_args_is_help=True
)


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
    values = {
        "amount": estimate["amount"],
        "currency": estimate["currency"],
        "version": estimate["price_version"],
        "hours": number(estimate["hours"]),
    }
    if estimate.get("programme"):
        return _("{amount} {currency} a month (prices {version}, {hours} h, {percent} % off with {programme})").format(
            percent=estimate["discount_percent"], programme=estimate["programme"], **values
        )
    return _("{amount} {currency} a month (prices {version}, {hours} h)").format(**values)


def prices(ctx: typer.Context) -> None:
    """The price list: every version, and per resource its basis and the price of one unit-hour."""
    current = state(ctx)
    with current.api() as api:
        data = api.get("/v1/prices")
    currencies = data["currencies"]
    render(
        current.output,
        data,
        lambda d: table(
            [
                N_("Version"),
                N_("From"),
                N_("Resource"),
                N_("Charged on"),
                N_("Unit"),
                _("Business ({currency})").format(currency=currencies["business"]),
                _("Agency ({currency})").format(currency=currencies["agency"]),
            ],
            [
                [
                    v["version"],
                    v["effective"],
                    name,
                    p["basis"],
                    p["unit"],
                    p["prices"]["business"],
                    p["prices"]["agency"],
                ]
                for v in d["versions"]
                for name, p in v["resources"].items()
            ],
            title=N_("Prices per unit-hour"),
        ),
    )


def _summary_rows(page: dict[str, Any]) -> list[list[Any]]:
    return [
        [
            s["id"],
            s["number"] or "",
            s["organisation_id"],
            s["period"],
            s["kind"].replace("_", " "),
            s["state"],
            money(s["total"], s["currency"]),
            when(s["issued_at"]),
        ]
        for s in page["items"]
    ]


@statements_app.command("list")
@handled
def list_(
    ctx: typer.Context,
    org: str | None = typer.Option(None, "--org", help="organisation id"),
    project: str | None = typer.Option(None, "--project", help="statements holding this project"),
    month: str | None = typer.Option(None, "--month", help="YYYY-MM"),
    state_: StatementState | None = typer.Option(None, "--state"),
    all_pages: bool = typer.Option(False, "--all", help="fetch every page"),
) -> None:
    """Statements and credit notes you can see, oldest first."""
    current = state(ctx)
    params = {"organisation_id": org, "project_id": project, "month": month, "state": state_.value if state_ else None}
    with current.api() as api:
        page = api.page("/v1/statements", params, all_pages=all_pages)
    render(
        current.output,
        page,
        lambda p: table(
            [
                N_("ID"),
                N_("Number"),
                N_("Organisation"),
                N_("Month"),
                N_("Kind"),
                N_("State"),
                N_("Total"),
                N_("Issued"),
            ],
            _summary_rows(p),
            title=N_("Statements"),
        ),
    )


def _statement_view(s: dict[str, Any]) -> Any:
    cur = s["currency"]
    head = details(
        [
            (N_("id"), s["id"]),
            (N_("number"), s["number"] or _("not numbered yet (draft)")),
            (N_("kind"), s["kind"].replace("_", " ")),
            (N_("state"), s["state"]),
            (N_("organisation"), s["organisation_id"]),
            (N_("month"), s["period"]),
            (N_("price versions"), ", ".join(s["price_versions"])),
            (N_("cancels"), s.get("corrects_id")),
            (N_("replaces"), s.get("replaces_id")),
            (N_("corrected by"), s.get("corrected_by_id")),
            (N_("reason"), s.get("reason")),
            (N_("total at list prices"), money(s["list_total"], cur)),
            (N_("programme discounts"), money(s["discount_total"], cur)),
            (N_("total"), money(s["total"], cur)),
        ]
    )
    lines = table(
        [
            N_("Project"),
            N_("Resource"),
            N_("Charged on"),
            N_("Prices"),
            N_("Quantity"),
            N_("Unit price"),
            N_("Discount"),
            N_("Amount"),
        ],
        [
            [
                line["project_id"],
                line["resource"],
                line["basis"],
                line["price_version"],
                f"{line['quantity']} {line['unit']}",
                line["unit_price"],
                f"{line['discount_percent']} %" + (f" ({line['programme']})" if line.get("programme") else ""),
                money(line["amount"], cur),
            ]
            for line in s["lines"]
        ],
        title=N_("Lines"),
    )
    projects = table(
        [N_("Project"), N_("Region"), N_("Env"), N_("Amount")],
        [[p["project_id"], p["region_id"], p["environment"], money(p["amount"], cur)] for p in s["projects"]],
        title=N_("Per project"),
    )
    return Group(head, lines, projects)


@statements_app.command()
@handled
def show(
    ctx: typer.Context,
    statement_id: str = typer.Argument(..., metavar="ID"),
    project: str | None = typer.Option(None, "--project", help="only this project's lines and totals"),
) -> None:
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
    out: Path | None = typer.Option(None, "--out", help="file to write (default: NUMBER[-LANG].csv|pdf here)"),
    project: str | None = typer.Option(None, "--project", help="only this project's lines and totals"),
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
    render(
        current.output,
        {"id": statement_id, "file": str(target), "bytes": len(content)},
        lambda d: ngettext("Wrote {file} ({bytes} byte).", "Wrote {file} ({bytes} bytes).", d["bytes"]).format(
            file=d["file"], bytes=number(d["bytes"])
        ),
    )


@statements_app.command()
@handled
def correct(
    ctx: typer.Context,
    statement_id: str = typer.Argument(..., metavar="ID"),
    reason: str = typer.Option(..., "--reason", help="why the statement is corrected"),
) -> None:
    """Operators: cancel an issued statement with a credit note and issue its replacement."""
    current = state(ctx)
    with current.api() as api:
        data = api.post(f"/v1/statements/{statement_id}/correct", json={"reason": reason})
    render(
        current.output,
        data,
        lambda d: _(
            "Credit note {credit_note} cancels {statement} ({credit_total}); replacement {replacement}: {replacement_total}."
        ).format(
            credit_note=d["credit_note"]["number"],
            statement=statement_id,
            credit_total=money(d["credit_note"]["total"], d["credit_note"]["currency"]),
            replacement=d["replacement"]["number"],
            replacement_total=money(d["replacement"]["total"], d["replacement"]["currency"]),
        ),
    )


def _org(api: Any, org: str | None) -> str:
    return org or default_org(api)


def _budget_view(b: dict[str, Any]) -> Any:
    cur = b["currency"]
    return details(
        [
            (N_("organisation"), b["organisation_id"]),
            (N_("budget"), money(b["amount"], cur) or _("none")),
            (N_("blocks increases"), _("yes") if b["block_increases"] else _("no")),
            (N_("month"), b["period"]),
            (N_("spent this month"), money(b["spent"], cur)),
            (N_("monthly estimate"), money(b["estimate"], cur)),
            (N_("alert sent"), f"{number(b['alerted_threshold'])} %" if b["alerted_threshold"] else _("none yet")),
            (
                N_("updated"),
                _("{time} by {subject}").format(time=when(b["updated_at"]), subject=b["updated_by"])
                if b["updated_by"]
                else "",
            ),
        ]
    )


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
    org: str | None = typer.Option(None, "--org", help="organisation id (default: your only organisation)"),
    block: bool = typer.Option(False, "--block/--no-block", help="refuse increase requests whose estimate exceeds it"),
) -> None:
    """Set the monthly budget (organisation admins)."""
    _budget(ctx, org, lambda api, path: api.put(path, json={"amount": amount, "block_increases": block}))


@budget_app.command("show")
@handled
def show_budget(ctx: typer.Context, org: str | None = typer.Option(None, "--org")) -> None:
    """The budget, this month's spend so far and the monthly estimate of what is granted."""
    _budget(ctx, org, lambda api, path: api.get(path))


@budget_app.command("remove")
@handled
def remove(ctx: typer.Context, org: str | None = typer.Option(None, "--org")) -> None:
    """Remove the budget (organisation admins)."""
    current = state(ctx)
    with current.api() as api:
        org_id = _org(api, org)
        api.delete(f"/v1/organisations/{org_id}/budget")
    echo(_("Budget of {org} removed.").format(org=org_id))


def register(app: typer.Typer) -> None:
    app.command("prices")(handled(prices))
    app.add_typer(statements_app, name="statements")
    app.add_typer(budget_app, name="budget")
