"""sahab orgs ..."""

from __future__ import annotations

from enum import Enum
from typing import Any

import typer

from cli.context import handled, state
from cli.errors import usage
from cli.i18n import N_, _
from cli.output import details, echo, render, table, when

app = typer.Typer(help="Organisations and their members.", no_args_is_help=True)


def default_org(api: Any) -> str:
    """The caller's one organisation, for the commands whose --org may be left out."""
    page = api.get("/v1/organisations", params={"limit": 2})
    items = page.get("items", [])
    if len(items) == 1:
        return str(items[0]["id"])
    raise usage(
        _("--org is required: you belong to no organisation")
        if not items
        else _("--org is required: you belong to several organisations")
    )


class Kind(str, Enum):
    agency = "agency"
    business = "business"


SECTOR_HELP = "agriculture, textiles, industry, services, technology, commerce, tourism, public or other"


class Role(str, Enum):
    member = "member"
    admin = "admin"


def _org_details(org: dict[str, Any]) -> Any:
    return details(
        [
            (N_("id"), org["id"]),
            (N_("kind"), org["kind"]),
            (N_("name"), org["legal_name"]),
            (N_("national id"), org["national_id"]),
            (N_("email"), org["contact_email"]),
            (N_("status"), org["status"]),
            (N_("created"), when(org["created_at"])),
            (N_("sector"), org.get(N_("sector")) or ""),
            (N_("employees"), "" if org.get(N_("employees")) is None else org["employees"]),
            (N_("founded"), org.get("founded_on") or ""),
            (N_("profile verified"), when(org.get("profile_verified_at")) or _("no")),
        ]
    )


def _profile(sector: str | None, employees: int | None, founded: str | None) -> dict[str, Any]:
    given = {"sector": sector, "employees": employees, "founded_on": founded}
    return {k: v for k, v in given.items() if v is not None}


@app.command()
@handled
def register(
    ctx: typer.Context,
    kind: Kind = typer.Option(..., "--kind", help="agency (public body) or business"),
    name: str = typer.Option(..., "--name", help="legal name"),
    national_id: str = typer.Option(
        ..., "--national-id", help="ICE (15 digits) for a business, administration code for an agency"
    ),
    email: str = typer.Option(..., "--email", help="contact e-mail"),
    sector: str | None = typer.Option(None, "--sector", help=SECTOR_HELP),
    employees: int | None = typer.Option(None, "--employees", help="number of employees"),
    founded: str | None = typer.Option(None, "--founded", help="founding date, YYYY-MM-DD"),
) -> None:
    """Register an organisation; you become its admin. An operator must verify it (and its profile) before it can
    request quota; programmes judge the profile: sector, employees, founding date."""
    current = state(ctx)
    with current.api() as api:
        org = api.post(
            "/v1/organisations",
            json={
                "kind": kind.value,
                "legal_name": name,
                "national_id": national_id,
                "contact_email": email,
                **_profile(sector, employees, founded),
            },
        )
    render(current.output, org, _org_details)


@app.command()
@handled
def profile(
    ctx: typer.Context,
    org: str = typer.Argument(..., metavar="ORG"),
    sector: str | None = typer.Option(None, "--sector", help=SECTOR_HELP),
    employees: int | None = typer.Option(None, "--employees", help="number of employees"),
    founded: str | None = typer.Option(None, "--founded", help="founding date, YYYY-MM-DD"),
) -> None:
    """Update the profile (admins). A change must be verified again by an operator before programmes rely on it."""
    current = state(ctx)
    with current.api() as api:
        data = api.patch(f"/v1/organisations/{org}", json=_profile(sector, employees, founded))
    render(current.output, data, _org_details)


@app.command("list")
@handled
def list_(ctx: typer.Context, all_pages: bool = typer.Option(False, "--all", help="fetch every page")) -> None:
    """Organisations you can see."""
    current = state(ctx)
    with current.api() as api:
        page = api.page("/v1/organisations", all_pages=all_pages)
    render(
        current.output,
        page,
        lambda p: table(
            [N_("ID"), N_("Kind"), N_("Name"), N_("Status"), N_("Created")],
            [[o["id"], o["kind"], o["legal_name"], o["status"], when(o["created_at"])] for o in p["items"]],
            title=N_("Organisations"),
        ),
    )


@app.command()
@handled
def show(ctx: typer.Context, org: str = typer.Argument(..., metavar="ORG")) -> None:
    """One organisation."""
    current = state(ctx)
    with current.api() as api:
        data = api.get(f"/v1/organisations/{org}")
    render(current.output, data, _org_details)


@app.command()
@handled
def members(ctx: typer.Context, org: str = typer.Argument(..., metavar="ORG")) -> None:
    """The members of an organisation."""
    current = state(ctx)
    with current.api() as api:
        data = api.get(f"/v1/organisations/{org}/members")
    render(
        current.output,
        data,
        lambda rows: table(
            [N_("Subject"), N_("Role"), N_("Since")],
            [[m["subject"], m["role"], when(m["created_at"])] for m in rows],
            title=_("Members of {org}").format(org=org),
        ),
    )


@app.command("add-member")
@handled
def add_member(
    ctx: typer.Context,
    org: str = typer.Argument(..., metavar="ORG"),
    subject: str = typer.Argument(..., metavar="SUBJECT", help="the member's token subject (sub)"),
    role: Role = typer.Option(Role.member, "--role"),
) -> None:
    """Add a member (or change a member's role). Organisation admins only."""
    current = state(ctx)
    with current.api() as api:
        data = api.post(f"/v1/organisations/{org}/members", json={"subject": subject, "role": role.value})
    render(current.output, data, lambda m: f"{m['subject']} is now {m['role']} of {org}.")


@app.command("remove-member")
@handled
def remove_member(
    ctx: typer.Context,
    org: str = typer.Argument(..., metavar="ORG"),
    subject: str = typer.Argument(..., metavar="SUBJECT"),
) -> None:
    """Remove a member. Organisation admins only."""
    current = state(ctx)
    with current.api() as api:
        api.delete(f"/v1/organisations/{org}/members/{subject}")
    if current.output == "json":
        render(current.output, {"removed": subject, "organisation_id": org}, str)
    else:
        echo(f"{subject} removed from {org}.")
