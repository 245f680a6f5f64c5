"""sahab programmes ..."""

from __future__ import annotations

from enum import Enum
from typing import Any

import typer

from cli.context import handled, state
from cli.i18n import N_, _, ngettext, number
from cli.output import details, render, table, when

app = typer.Typer(
    help="Programmes: apply, follow your enrolment, choose at expiry; approvers and operators decide and watch.",
    no_args_is_help=True,
)

# The resources shown in short views; `-o json` gives every one.
SHOWN = (
    ("vcpus", N_("vCPU"), 1),
    ("ram_mib", N_("RAM GiB"), 1024),
    ("volume_gib", N_("volume GiB"), 1),
    ("instances", N_("instances"), 1),
)


class Choice(str, Enum):
    continue_ = "continue"
    shrink = "shrink"


class State(str, Enum):
    pending = "pending"
    rejected = "rejected"
    enrolled = "enrolled"
    expired = "expired"
    continued = "continued"
    shrinking = "shrinking"
    ended = "ended"


def _amounts(values: dict[str, int]) -> str:
    return ", ".join(f"{number(values.get(name, 0) // scale)} {_(label)}" for name, label, scale in SHOWN)


def _price(programme: dict[str, Any]) -> str:
    return _("free") if programme["free"] else _("{percent} % off").format(percent=programme["discount_percent"])


def _eligibility(rules: dict[str, Any]) -> str:
    parts = ["/".join(rules["kinds"])]
    if rules.get("sectors"):
        parts.append(_("sectors {sectors}").format(sectors=", ".join(rules["sectors"])))
    band = rules.get("employees") or {}
    if band:
        parts.append(
            _("employees {min}..{max}").format(
                min=band.get("min") or 0, max=band.get("max") if band.get("max") is not None else ""
            )
        )
    age = rules.get("age") or {}
    if age.get("max_years"):
        parts.append(
            ngettext(
                "founded less than {years} year ago", "founded less than {years} years ago", age["max_years"]
            ).format(years=age["max_years"])
        )
    if age.get("min_years"):
        parts.append(
            ngettext(
                "founded at least {years} year ago", "founded at least {years} years ago", age["min_years"]
            ).format(years=age["min_years"])
        )
    return _("; ").join(parts)


def _enrolment_details(e: dict[str, Any]) -> Any:
    return details(
        [
            (N_("id"), e["id"]),
            (N_("programme"), e["programme_id"]),
            (N_("organisation"), e["organisation_id"]),
            (N_("state"), e["state"]),
            (N_("reason"), e["reason"]),
            (N_("applied"), _("{time} by {subject}").format(time=when(e["created_at"]), subject=e["applied_by"])),
            (
                N_("decided"),
                _("{time} by {subject}").format(time=when(e["decided_at"]), subject=e["decided_by"])
                if e["decided_at"]
                else "",
            ),
            (N_("from"), when(e["starts_at"])),
            (N_("until"), when(e["ends_at"])),
            (N_("discount"), f"{e['percent_off']} %" if e["percent_off"] is not None else ""),
            (N_("choice"), f"{e['choice']} ({e['chosen_by']}, {when(e['chosen_at'])})" if e["choice"] else ""),
        ]
    )


@app.command("list")
@handled
def list_(ctx: typer.Context) -> None:
    """The programmes on offer."""
    current = state(ctx)
    with current.api() as api:
        page = api.get("/v1/programmes")
    render(
        current.output,
        page,
        lambda p: table(
            [N_("ID"), N_("Name"), N_("Price"), N_("Grant"), N_("Months"), N_("Who"), N_("Enrolment"), N_("Regions")],
            [
                [
                    g["id"],
                    g["name"],
                    _price(g),
                    _amounts(g["grant"]),
                    number(g["length_months"]),
                    _eligibility(g["eligibility"]),
                    _("automatic") if g["auto_enrol"] else _("by an approver"),
                    ", ".join(g["funding"]),
                ]
                for g in p["items"]
            ],
            title=N_("Programmes"),
        ),
    )


@app.command()
@handled
def show(
    ctx: typer.Context,
    programme: str = typer.Argument(..., metavar="PROGRAMME"),
    org: str | None = typer.Option(None, "--org", help="also say whether this organisation is eligible today"),
) -> None:
    """One programme; with --org, whether that organisation is eligible and why not."""
    current = state(ctx)
    with current.api() as api:
        data = api.get(f"/v1/programmes/{programme}")
        if org:
            data = {
                **data,
                "eligibility_check": api.get(
                    f"/v1/programmes/{programme}/eligibility", params={"organisation_id": org}
                ),
            }

    def build(p: dict[str, Any]) -> Any:
        rows = [
            (N_("id"), p["id"]),
            (N_("name"), p["name"]),
            (N_("about"), p["description"]),
            (N_("who"), _eligibility(p["eligibility"])),
            (N_("grant"), _amounts(p["grant"])),
            (
                N_("length"),
                ngettext("{months} month", "{months} months", p["length_months"]).format(
                    months=number(p["length_months"])
                ),
            ),
            (N_("price"), _price(p)),
            (
                N_("enrolment"),
                _("automatic when eligible and verified") if p["auto_enrol"] else _("decided by an approver"),
            ),
            (
                N_("grace"),
                ngettext(
                    "{days} day after expiry to choose", "{days} days after expiry to choose", p["grace_days"]
                ).format(days=number(p["grace_days"])),
            ),
            *[
                (_("reserved in {region}").format(region=region), _amounts(amounts))
                for region, amounts in p["funding"].items()
            ],
        ]
        check = p.get("eligibility_check")
        if check:
            rows.append(
                (
                    f"{check['organisation_id']}",
                    _("eligible")
                    if check["eligible"]
                    else _("not eligible: {reasons}").format(reasons="; ".join(check["reasons"])),
                )
            )
        return details(rows)

    render(current.output, data, build)


@app.command()
@handled
def apply(
    ctx: typer.Context,
    programme: str = typer.Argument(..., metavar="PROGRAMME"),
    org: str = typer.Option(..., "--org", help="your organisation (you must be one of its admins)"),
) -> None:
    """Apply: enrolled at once when eligible and verified (if the programme allows it), else it waits for an approver."""
    _post(ctx, f"/v1/programmes/{programme}/applications", {"organisation_id": org})


@app.command()
@handled
def enrolments(
    ctx: typer.Context,
    programme: str | None = typer.Option(None, "--programme"),
    org: str | None = typer.Option(None, "--org"),
    state_: State | None = typer.Option(None, "--state"),
    all_pages: bool = typer.Option(False, "--all", help="fetch every page"),
) -> None:
    """Enrolments and applications you can see (approvers and operators: all); `--state pending` is what waits."""
    current = state(ctx)
    with current.api() as api:
        page = api.page(
            "/v1/enrolments",
            {"programme": programme, "organisation_id": org, "state": state_.value if state_ else None},
            all_pages=all_pages,
        )
    render(
        current.output,
        page,
        lambda p: table(
            [N_("ID"), N_("Programme"), N_("Organisation"), N_("State"), N_("Until"), N_("Choice"), N_("Reason")],
            [
                [
                    e["id"],
                    e["programme_id"],
                    e["organisation_id"],
                    e["state"],
                    when(e["ends_at"]),
                    e["choice"] or "",
                    e["reason"],
                ]
                for e in p["items"]
            ],
            title=N_("Enrolments"),
        ),
    )


@app.command()
@handled
def enrolment(ctx: typer.Context, enrolment_id: str = typer.Argument(..., metavar="ENROLMENT")) -> None:
    """One enrolment, with the reason for its state."""
    current = state(ctx)
    with current.api() as api:
        data = api.get(f"/v1/enrolments/{enrolment_id}")
    render(current.output, data, _enrolment_details)


@app.command()
@handled
def choose(
    ctx: typer.Context,
    enrolment_id: str = typer.Argument(..., metavar="ENROLMENT"),
    choice: Choice = typer.Argument(
        ..., help="continue: keep the grant at the normal price; shrink: to the normal envelope"
    ),
) -> None:
    """At expiry (from 30 days before until the grace period ends): continue at the normal price, or shrink."""
    _post(ctx, f"/v1/enrolments/{enrolment_id}/choice", {"choice": choice.value})


def _post(ctx: typer.Context, path: str, body: dict[str, Any]) -> None:
    """An action on an enrolment; shows the enrolment it returns, with its reason."""
    current = state(ctx)
    with current.api() as api:
        data = api.post(path, json=body)
    render(current.output, data, _enrolment_details)


@app.command()
@handled
def approve(
    ctx: typer.Context,
    enrolment_id: str = typer.Argument(..., metavar="ENROLMENT"),
    reason: str = typer.Option(..., "--reason", help="why (kept on the enrolment)"),
) -> None:
    """Approvers: enrol a pending applicant."""
    _post(ctx, f"/v1/enrolments/{enrolment_id}/approve", {"reason": reason})


@app.command()
@handled
def reject(
    ctx: typer.Context,
    enrolment_id: str = typer.Argument(..., metavar="ENROLMENT"),
    reason: str = typer.Option(..., "--reason", help="why (kept on the enrolment)"),
) -> None:
    """Approvers: refuse a pending application."""
    _post(ctx, f"/v1/enrolments/{enrolment_id}/reject", {"reason": reason})


@app.command()
@handled
def report(ctx: typer.Context, programme: str = typer.Argument(..., metavar="PROGRAMME")) -> None:
    """Approvers and operators: enrolments by state, reserve / granted / used per region, expiries within 30 days."""
    current = state(ctx)
    with current.api() as api:
        data = api.get(f"/v1/programmes/{programme}/report")

    def build(r: dict[str, Any]) -> Any:
        counts = ", ".join(f"{state}: {number(n)}" for state, n in r["enrolments"].items() if n) or _("none")
        rows: list[tuple[str, Any]] = [(N_("programme"), r["programme"]), (N_("enrolments"), counts)]
        for region, resources in r["regions"].items():
            for name, label, scale in SHOWN:
                v = resources[name]
                rows.append(
                    (
                        f"{region} {_(label)}",
                        _("reserved {reserved}, granted {granted}, used {used}").format(
                            reserved=number(v["reserved"] // scale),
                            granted=number(v["granted"] // scale),
                            used=number(v["used"] // scale),
                        ),
                    )
                )
        for e in r["expiring"]:
            rows.append(
                (
                    _("ends {time}").format(time=when(e["ends_at"])),
                    _("{enrolment} ({organisation}, {state}, choice: {choice})").format(
                        enrolment=e["enrolment_id"],
                        organisation=e["organisation_id"],
                        state=e["state"],
                        choice=e["choice"] or _("none yet"),
                    ),
                )
            )
        return details(rows)

    render(current.output, data, build)
