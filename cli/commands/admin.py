"""sahab admin ...: approvers and operators."""

from __future__ import annotations

import typer

from cli.commands.requests import RequestState, act, requests_table
from cli.context import handled, state
from cli.i18n import _
from cli.output import render

app = typer.Typer(help="Approver and operator commands.", no_args_is_help=True)


@app.command()
@handled
def requests(
    ctx: typer.Context,
    state_: RequestState = typer.Option(RequestState.SUBMITTED, "--state", help="requests in this state"),
    all_pages: bool = typer.Option(False, "--all", help="fetch every page"),
) -> None:
    """Requests waiting for a decision (or in another state)."""
    current = state(ctx)
    with current.api() as api:
        page = api.page("/v1/quota-requests", {"state": state_.value}, all_pages=all_pages)
    render(
        current.output,
        page,
        lambda p: requests_table(p, title=_("Requests in state {state}").format(state=state_.value)),
    )


@app.command()
@handled
def approve(
    ctx: typer.Context,
    request_id: str = typer.Argument(..., metavar="ID"),
    reason: str | None = typer.Option(None, "--reason"),
) -> None:
    """Approve a submitted request (refused when the region lacks capacity)."""
    act(ctx, request_id, "approve", {"reason": reason})


@app.command()
@handled
def reject(
    ctx: typer.Context,
    request_id: str = typer.Argument(..., metavar="ID"),
    reason: str = typer.Option(..., "--reason", help="told to the requester"),
) -> None:
    """Reject a submitted request."""
    act(ctx, request_id, "reject", {"reason": reason}, with_reason=True)


@app.command("verify-org")
@handled
def verify_org(ctx: typer.Context, org: str = typer.Argument(..., metavar="ORG")) -> None:
    """Mark an organisation verified (operators): it may then request quota."""
    current = state(ctx)
    with current.api() as api:
        data = api.post(f"/v1/organisations/{org}/verify")
    render(current.output, data, lambda o: _("Organisation {id} is {status}.").format(id=o["id"], status=o["status"]))
