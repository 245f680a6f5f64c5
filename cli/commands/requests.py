"""sahab request ..."""

from __future__ import annotations

from enum import Enum
from typing import Any

import typer

from cli import errors
from cli.commands.billing import estimate_line
from cli.commands.orgs import default_org
from cli.context import handled, state
from cli.errors import usage
from cli.i18n import N_, _, ngettext, number, plural_count
from cli.output import JSON, amounts, details, echo, print_json, render, table, when
from cli.wait import describe_event, follow

app = typer.Typer(help="Quota requests: create, follow, cancel, retry.", no_args_is_help=True)


class RequestState(str, Enum):
    """The states the API reports for a quota request (its lifecycle is the API's to enforce)."""

    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    PROVISIONING = "provisioning"
    ACTIVE = "active"
    FAILED = "failed"
    SUPERSEDED = "superseded"
    DECOMMISSIONING = "decommissioning"
    DECOMMISSIONED = "decommissioned"


RESOURCE_HELP = "amount of this resource; overrides the preset's"


def _request_details(r: dict[str, Any]) -> Any:
    return details(
        [
            (N_("id"), r["id"]),
            (N_("organisation"), r["organisation_id"]),
            (N_("region"), r["region_id"]),
            (N_("environment"), r["environment"]),
            (N_("kind"), r["kind"]),
            (N_("state"), r["state"]),
            (N_("reason"), r.get("reason")),
            (N_("project"), r.get("project_id")),
            (N_("amounts"), amounts(r["amounts"])),
            (N_("justification"), r["justification"]),
            (N_("created by"), r["created_by"]),
            (N_("created"), when(r["created_at"])),
            (N_("updated"), when(r["updated_at"])),
            (N_("estimated cost"), estimate_line(r.get("estimated_monthly_cost"))),
            *_preview_lines(r.get("preview")),
        ]
    )


def _preview_lines(preview: dict[str, Any] | None) -> list[tuple[str, Any]]:
    """What a change would do, for the approver: the quota diff, then the cloud-side plan."""
    if not preview:
        return []
    lines: list[tuple[str, Any]] = []
    quota = preview.get("quota") or {}
    if quota:
        lines.append((N_("quota change"), ", ".join(f"{k} {v['from']} → {v['to']}" for k, v in sorted(quota.items()))))
    plan = preview.get("plan")
    if plan is None:
        lines.append((N_("plan"), _("not yet previewed (a worker runs it)")))
    elif "error" in plan:
        lines.append((N_("plan"), _("preview failed: {error}").format(error=plan["error"])))
    else:
        steps = plan.get("steps") or []
        lines.append(
            (
                N_("plan"),
                "; ".join(f"{s['op']} {s['name']} ({', '.join(s.get('changed') or []) or 'all'})" for s in steps)
                or _("no change on the cloud"),
            )
        )
    return lines


def requests_table(page: dict[str, Any], title: str = N_("Quota requests")) -> Any:
    return table(
        [
            N_("ID"),
            N_("Organisation"),
            N_("Region"),
            N_("Env"),
            N_("Kind"),
            N_("State"),
            N_("Amounts"),
            N_("Reason"),
            N_("Updated"),
        ],
        [
            [
                r["id"],
                r["organisation_id"],
                r["region_id"],
                r["environment"],
                r["kind"],
                r["state"],
                amounts(r["amounts"], ("vcpus", "ram_mib", "instances", "volume_gib")),
                r.get("reason") or "",
                when(r["updated_at"]),
            ]
            for r in page["items"]
        ],
        title=title,
    )


def act(
    ctx: typer.Context, request_id: str, action: str, body: dict[str, Any] | None, *, with_reason: bool = False
) -> None:
    """POST one of the request's actions (approve, reject, cancel, retry) and say where it now stands."""
    current = state(ctx)
    with current.api() as api:
        data = api.post(f"/v1/quota-requests/{request_id}/{action}", json=body)
    render(
        current.output,
        data,
        lambda r: (_("Request {id} is {state}: {reason}") if with_reason else _("Request {id} is {state}.")).format(
            id=r["id"], state=r["state"], reason=r.get("reason")
        ),
    )


def _estimate_view(e: dict[str, Any]) -> Any:
    whole = e["organisation"]
    if e["budget"] is None:
        budget = _("none")
    elif e["block_increases"]:
        budget = _("{amount} {currency} (blocks increases)").format(amount=e["budget"], currency=whole["currency"])
    else:
        budget = f"{e['budget']} {whole['currency']}"
    verdict = (
        ""
        if e["within_budget"] is None
        else (
            _("within the budget")
            if e["within_budget"]
            else (
                _("ABOVE the budget: the request would be refused")
                if e["block_increases"]
                else _("above the budget (alerts only)")
            )
        )
    )
    return details(
        [
            (N_("estimated cost"), estimate_line(e["request"])),
            (
                N_("organisation, with it"),
                _("{amount} {currency} a month").format(amount=whole["amount"], currency=whole["currency"]),
            ),
            (N_("budget"), budget),
            (N_("verdict"), verdict),
            (N_("sent"), _("no (--dry-run)")),
        ]
    )


@app.command()
@handled
def create(
    ctx: typer.Context,
    org: str | None = typer.Option(None, "--org", help="organisation id (default: your only organisation)"),
    region: str = typer.Option(..., "--region", help="region id (see `sahab regions`)"),
    env: str = typer.Option(..., "--env", help="environment name, e.g. prod or staging"),
    preset: str | None = typer.Option(None, "--preset", help="small, medium or large"),
    vcpus: int | None = typer.Option(None, "--vcpus", help=RESOURCE_HELP),
    ram_gib: int | None = typer.Option(None, "--ram-gib", help="RAM in GiB (sent as ram_mib)"),
    instances: int | None = typer.Option(None, "--instances", help=RESOURCE_HELP),
    volume_gib: int | None = typer.Option(None, "--volume-gib", help="block storage in GiB"),
    volumes: int | None = typer.Option(None, "--volumes", help=RESOURCE_HELP),
    snapshots: int | None = typer.Option(None, "--snapshots", help=RESOURCE_HELP),
    networks: int | None = typer.Option(None, "--networks", help=RESOURCE_HELP),
    subnets: int | None = typer.Option(None, "--subnets", help=RESOURCE_HELP),
    ports: int | None = typer.Option(None, "--ports", help=RESOURCE_HELP),
    routers: int | None = typer.Option(None, "--routers", help=RESOURCE_HELP),
    floating_ips: int | None = typer.Option(None, "--floating-ips", help=RESOURCE_HELP),
    security_groups: int | None = typer.Option(None, "--security-groups", help=RESOURCE_HELP),
    security_group_rules: int | None = typer.Option(None, "--security-group-rules", help=RESOURCE_HELP),
    object_gib: int | None = typer.Option(
        None, "--object-gib", help="object storage (S3) in GiB, where the region offers it"
    ),
    justification: str = typer.Option(..., "--justification", help="why the quota is needed"),
    wait: bool = typer.Option(False, "--wait", help="follow the request until active, failed, rejected or cancelled"),
    timeout: float = typer.Option(600.0, "--timeout", metavar="SECONDS", help="how long --wait waits"),
    idempotency_key: str | None = typer.Option(
        None, "--idempotency-key", help="send as Idempotency-Key: a retry with the same key is not created twice"
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="show the estimated monthly cost (and the budget) without sending"
    ),
) -> None:
    """Ask for quota in a region for an environment (a new project, or a change to the existing one)."""
    current = state(ctx)
    given = {
        "vcpus": vcpus,
        "ram_mib": None if ram_gib is None else ram_gib * 1024,
        "instances": instances,
        "volume_gib": volume_gib,
        "volumes": volumes,
        "snapshots": snapshots,
        "networks": networks,
        "subnets": subnets,
        "ports": ports,
        "routers": routers,
        "floating_ips": floating_ips,
        "security_groups": security_groups,
        "security_group_rules": security_group_rules,
        "object_gib": object_gib,
    }
    chosen = {k: v for k, v in given.items() if v is not None}
    if preset is None and not chosen:
        raise usage(_("give --preset small|medium|large, resource amounts (--vcpus, --ram-gib, ...), or both"))
    with current.api() as api:
        body: dict[str, Any] = {
            "organisation_id": org or default_org(api),
            "region": region,
            "environment": env,
            "amounts": chosen,
            "justification": justification,
        }
        if preset is not None:
            body["preset"] = preset
        if dry_run:
            estimate = api.post("/v1/prices/estimate", json=body)
            render(current.output, estimate, _estimate_view)
            return
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        created = api.post("/v1/quota-requests", json=body, headers=headers)
        if not wait:
            render(current.output, created, _request_details)
            return
        if current.output != JSON:
            # English says "s" for any number; Arabic and French choose their plural form by the count.
            echo(
                ngettext(
                    "Request {id} created ({state}); following it (timeout {seconds} s).",
                    "Request {id} created ({state}); following it (timeout {seconds} s).",
                    plural_count(timeout),
                ).format(id=created["id"], state=created["state"], seconds=number(timeout))
            )
        code, last = follow(api, created, timeout, to_stderr=current.output == JSON)
    if current.output == JSON:
        print_json(last)
    if code != errors.OK:
        raise typer.Exit(code)


@app.command("list")
@handled
def list_(
    ctx: typer.Context,
    state_: RequestState | None = typer.Option(None, "--state", help="only requests in this state"),
    org: str | None = typer.Option(None, "--org", help="organisation id"),
    region: str | None = typer.Option(None, "--region", help="region id"),
    all_pages: bool = typer.Option(False, "--all", help="fetch every page"),
) -> None:
    """Quota requests you can see, oldest first."""
    current = state(ctx)
    params = {"state": state_.value if state_ else None, "organisation_id": org, "region": region}
    with current.api() as api:
        page = api.page("/v1/quota-requests", params, all_pages=all_pages)
    render(current.output, page, requests_table)


@app.command()
@handled
def show(ctx: typer.Context, request_id: str = typer.Argument(..., metavar="ID")) -> None:
    """One quota request."""
    current = state(ctx)
    with current.api() as api:
        data = api.get(f"/v1/quota-requests/{request_id}")
    render(current.output, data, _request_details)


@app.command()
@handled
def events(ctx: typer.Context, request_id: str = typer.Argument(..., metavar="ID")) -> None:
    """Every transition and progress step of a request, oldest first."""
    current = state(ctx)
    with current.api() as api:
        data = api.get(f"/v1/quota-requests/{request_id}/events")
    render(
        current.output,
        data,
        lambda rows: table(
            ["#", N_("Time"), N_("Actor"), N_("From"), N_("To"), N_("Reason")],
            [
                [
                    e["id"],
                    when(e["at"]),
                    e["actor"],
                    e.get("from_state") or "",
                    e.get("to_state") or "",
                    describe_event(e).split("  ", 3)[-1]
                    if not (e.get("from_state") or e.get("to_state"))
                    else e.get("reason") or "",
                ]
                for e in rows
            ],
            title=_("Events of {id}").format(id=request_id),
        ),
    )


@app.command()
@handled
def cancel(
    ctx: typer.Context,
    request_id: str = typer.Argument(..., metavar="ID"),
    reason: str | None = typer.Option(None, "--reason", help="why"),
) -> None:
    """Cancel a request that still waits for a decision."""
    act(ctx, request_id, "cancel", {"reason": reason})


@app.command()
@handled
def retry(ctx: typer.Context, request_id: str = typer.Argument(..., metavar="ID")) -> None:
    """Send a failed request back to provisioning."""
    act(ctx, request_id, "retry", None)
