"""`sahab`: the command line of the Sahab control plane. It talks to the API over HTTP only."""

from __future__ import annotations

from enum import Enum
from typing import Optional

import typer

from cli import errors
from cli.commands import admin, auth, orgs, projects, regions, requests
from cli.commands import webhooks
from cli.config import resolve_api_url
from cli.context import State


class OutputMode(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


app = typer.Typer(
    name="sahab",
    help="Self-service quota for the sovereign OpenStack clouds.",
    epilog=errors.EXIT_CODES_HELP,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def root(
    ctx: typer.Context,
    output: OutputMode = typer.Option(OutputMode.table, "--output", "-o", help="table for people, json (the API's JSON) for scripts, csv for spreadsheets"),
    api: Optional[str] = typer.Option(None, "--api", metavar="URL", help="API base URL (default: $SAHAB_API_URL, config.json, http://127.0.0.1:8080)"),
) -> None:
    ctx.obj = State(api_url=resolve_api_url(api), output=output.value)


auth.register(app)
regions.register(app)
app.add_typer(orgs.app, name="orgs")
webhooks.register(orgs.app)
app.add_typer(requests.app, name="request")
app.add_typer(projects.app, name="projects")
app.add_typer(admin.app, name="admin")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
