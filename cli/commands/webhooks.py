"""sahab orgs webhook-deliveries ORG / webhook-resend ORG DELIVERY: the alert webhook's deliveries."""

from __future__ import annotations

from enum import Enum
from typing import Any

import typer

from cli.context import handled, state
from cli.i18n import N_, _
from cli.output import details, render, table, when


class DeliveryState(str, Enum):
    pending = "pending"
    delivered = "delivered"
    failed = "failed"
    cancelled = "cancelled"


def _path(org: str) -> str:
    return f"/v1/organisations/{org}/alert-webhook/deliveries"


def _alert(delivery: dict[str, Any]) -> str:
    payload = delivery["payload"]
    if "resource" in payload and "threshold" in payload:
        return f"{payload['resource']} {payload['threshold']} % ({payload.get('project_id', '?')})"
    return str(payload.get("type", ""))


def _problem(delivery: dict[str, Any]) -> str:
    return (delivery["last_error"] or "")[:80]


def deliveries(
    ctx: typer.Context,
    org: str = typer.Argument(..., metavar="ORG"),
    state_: DeliveryState | None = typer.Option(
        None, "--state", help="only deliveries in this state (failed: every attempt failed)"
    ),
    all_pages: bool = typer.Option(False, "--all", help="fetch every page"),
) -> None:
    """Usage alerts sent to the organisation's webhook, oldest first (organisation admins)."""
    current = state(ctx)
    with current.api() as api:
        page = api.page(_path(org), {"state": state_.value} if state_ else None, all_pages=all_pages)
    render(
        current.output,
        page,
        lambda p: table(
            [N_("ID"), N_("State"), N_("Attempts"), N_("Alert"), N_("Last status"), N_("Last error"), N_("Created")],
            [
                [
                    d["id"],
                    d["state"],
                    d["attempts"],
                    _alert(d),
                    d["last_status"] or "",
                    _problem(d),
                    when(d["created_at"]),
                ]
                for d in p["items"]
            ],
            title=_("Webhook deliveries of {org}").format(org=org),
        ),
    )


def resend(
    ctx: typer.Context,
    org: str = typer.Argument(..., metavar="ORG"),
    delivery: str = typer.Argument(..., metavar="DELIVERY"),
) -> None:
    """Send a failed or cancelled delivery again, with all its attempts, to the webhook as it is now."""
    current = state(ctx)
    with current.api() as api:
        data = api.post(f"{_path(org)}/{delivery}/resend")
    render(
        current.output,
        data,
        lambda d: details(
            [
                (N_("id"), d["id"]),
                (N_("state"), d["state"]),
                (N_("alert"), _alert(d)),
                (N_("created"), when(d["created_at"])),
            ]
        ),
    )


def register(orgs: typer.Typer) -> None:
    orgs.command("webhook-deliveries")(handled(deliveries))
    orgs.command("webhook-resend")(handled(resend))
