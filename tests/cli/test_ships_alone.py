"""The CLI is an HTTP client that ships alone: none of the server's packages is imported,
and what it knows of the API (problem codes, request states) matches the API."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from api.problems import status_for
from cli import errors as cli_errors
from cli.commands.requests import RequestState as CliRequestState
from controlplane import errors as server_errors
from controlplane.domain.states import RequestState

SERVER_PACKAGES = ("controlplane", "api", "stacks", "pulumi")
CLI = Path(cli_errors.__file__).parent


def _server_module(name: str) -> bool:
    return name.split(".")[0] in SERVER_PACKAGES


@pytest.mark.processes
def test_the_running_cli_loads_no_server_package() -> None:
    script = (
        "import json, sys; from cli.main import app, main; import typer.main; typer.main.get_command(app); "
        "print(json.dumps(sorted(sys.modules)))"
    )
    loaded = json.loads(
        subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True).stdout
    )
    assert "cli.commands.projects" in loaded
    assert [name for name in loaded if _server_module(name)] == []


def test_no_module_of_the_cli_imports_a_server_package() -> None:
    found = []
    for path in sorted(CLI.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else ([node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            )
            found += [f"{path.relative_to(CLI.parent)}:{node.lineno} {name}" for name in names if _server_module(name)]
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in {
                "__import__",
                "import_module",
            }:
                found.append(f"{path.relative_to(CLI.parent)}:{node.lineno} dynamic import")
    assert found == []


def _error_classes() -> list[type[server_errors.SahabError]]:
    found, pending = [], [server_errors.SahabError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


# What each family of the core's errors means to a script (cli/README.md, "Errors and exit codes").
FAMILIES = [
    (server_errors.IdempotencyKeyReused, cli_errors.INVALID_INPUT),
    (server_errors.InvalidInput, cli_errors.INVALID_INPUT),
    (server_errors.AuthenticationFailed, cli_errors.NOT_AUTHENTICATED),
    (server_errors.PermissionDenied, cli_errors.FORBIDDEN),
    (server_errors.NotFound, cli_errors.NOT_FOUND),
    (server_errors.Conflict, cli_errors.CONFLICT),
    (server_errors.ProvisionerUnavailable, cli_errors.UNAVAILABLE),
    (server_errors.DependencyUnavailable, cli_errors.UNAVAILABLE),
    (server_errors.SahabError, cli_errors.UNEXPECTED),
]


@pytest.mark.parametrize("cls", _error_classes(), ids=lambda cls: cls.code)
def test_every_problem_the_api_sends_gets_its_familys_exit_code(cls: type[server_errors.SahabError]) -> None:
    """By its code where the CLI knows it, else by the HTTP status the API gives it."""
    expected = next(code for family, code in FAMILIES if issubclass(cls, family))
    error = cls.__new__(cls)  # only its class matters to the status
    assert cli_errors.exit_code_for(cls.code, status_for(error)) == expected


def test_the_cli_knows_every_request_state() -> None:
    assert [s.value for s in CliRequestState] == [s.value for s in RequestState]
