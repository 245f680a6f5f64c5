"""Per-invocation state (API URL, output mode) and the one place expected errors become exit codes."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import typer

from cli import errors
from cli.auth import Session
from cli.client import Api
from cli.config import resolve_api_url
from cli.errors import CliError
from cli.i18n import _
from cli.output import echo

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class State:
    api_url: str
    output: str

    def api(self, authenticated: bool = True) -> Api:
        return Api(self.api_url, Session(self.api_url) if authenticated else None)


def state(ctx: typer.Context) -> State:
    root = ctx.find_root()
    if not isinstance(root.obj, State):
        root.obj = State(api_url=resolve_api_url(None), output="table")
    return root.obj


def fail(error: CliError) -> typer.Exit:
    for line in error.lines():
        echo(line, stderr=True)
    if error.exit_code == errors.NOT_AUTHENTICATED and "sahab login" not in error.detail:
        echo("  " + _("run `sahab login`"), stderr=True)
    return typer.Exit(error.exit_code)


def handled(function: F) -> F:
    """Expected errors print `Error: <title>: <detail>` and exit with their code; no traceback.
    Anything else exits 1 with a one-line message (SAHAB_DEBUG=1 shows the traceback)."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except CliError as error:
            raise fail(error) from None
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as error:  # noqa: BLE001 - the promise is: no traceback
            if os.environ.get("SAHAB_DEBUG"):
                raise
            raise fail(
                CliError(
                    _("Unexpected error"),
                    _("{error} (SAHAB_DEBUG=1 shows details)").format(error=f"{type(error).__name__}: {error}"),
                    exit_code=errors.UNEXPECTED,
                )
            ) from None

    return wrapper  # type: ignore[return-value]
