"""`sahab`: the command line of the Sahab control plane. It talks to the API over HTTP only."""

from __future__ import annotations

from enum import Enum
from typing import Any

import typer
from typer.core import TyperGroup

from cli import errors
from cli.commands import admin, auth, billing, orgs, programmes, projects, regions, requests, webhooks
from cli.config import resolve_api_url
from cli.context import State, state
from cli.i18n import translate_help


class OutputMode(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


OUTPUT_HELP = "table for people, json (the API's JSON) for scripts, csv for spreadsheets"
API_HELP = "API base URL (default: $SAHAB_API_URL, config.json, http://127.0.0.1:8080)"


def _set_output(ctx: typer.Context, value: OutputMode | None) -> None:
    if value is not None:
        state(ctx).output = value.value


def _set_api(ctx: typer.Context, value: str | None) -> None:
    if value is not None:
        state(ctx).api_url = resolve_api_url(value)


def _global_options() -> list[Any]:
    """--output and --api as options of a subcommand, built by Typer from this signature."""

    def carrier(
        output: OutputMode | None = typer.Option(
            None, "--output", "-o", help=OUTPUT_HELP, callback=_set_output, expose_value=False
        ),
        api: str | None = typer.Option(
            None, "--api", metavar="URL", help=API_HELP, callback=_set_api, expose_value=False
        ),
    ) -> None:
        """Carries the options only."""

    single = typer.Typer(add_completion=False)
    single.command()(carrier)
    return [param for param in typer.main.get_command(single).params if param.name in {"output", "api"}]


class GlobalOptionsGroup(TyperGroup):
    """The root group: --output and --api are accepted after any group or command as well as before
    (`sahab projects list --output json`), as people type them. The last one given wins."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        options = _global_options()
        pending = list(self.commands.values())
        while pending:
            command = pending.pop()
            taken = {opt for param in command.params for opt in getattr(param, "opts", [])}
            command.params.extend(option for option in options if not taken & set(option.opts))
            pending.extend(getattr(command, "commands", {}).values())

    def main(self, *args: Any, **kwargs: Any) -> Any:
        translate_help(self)  # the language is known now (SAHAB_LANG, LANG...), not when commands were declared
        return super().main(*args, **kwargs)


app = typer.Typer(
    name="sahab",
    cls=GlobalOptionsGroup,
    help="Self-service quota for the sovereign OpenStack clouds.",
    epilog=errors.EXIT_CODES_HELP,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def root(
    ctx: typer.Context,
    output: OutputMode = typer.Option(OutputMode.table, "--output", "-o", help=OUTPUT_HELP),
    api: str | None = typer.Option(None, "--api", metavar="URL", help=API_HELP),
) -> None:
    ctx.obj = State(api_url=resolve_api_url(api), output=output.value)


auth.register(app)
regions.register(app)
app.add_typer(orgs.app, name="orgs")
webhooks.register(orgs.app)
app.add_typer(requests.app, name="request")
app.add_typer(projects.app, name="projects")
app.add_typer(admin.app, name="admin")
billing.register(app)
app.add_typer(programmes.app, name="programmes")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
