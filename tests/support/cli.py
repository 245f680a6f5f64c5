"""What the CLI tests share: the stand-in worker, the served API, and `sahab` run in-process.

The fixtures that start them live in tests/cli/conftest.py; tests import these
names from here (tests import no other test modules)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner

from cli.main import app as cli_app
from controlplane.composition import ApiRoot
from controlplane.persistence.database import transaction
from controlplane.persistence.models import Project, QuotaRequest
from controlplane.provisioning.unavailable import UnavailableProvisioner
from controlplane.workflows.provisioning import ProvisioningWorkflow
from tests.support.fakes import InMemoryProvisioner
from tests.support.oauth import OAuthIssuer

PASSWORDS = {"amina": "amina-demo", "youssef": "youssef-demo", "salma": "salma-demo"}


@dataclass
class WorkerQueue:
    """Like a Celery worker: runs the provisioning workflow in its own thread once the API has enqueued
    (which it does after its commit)."""

    runtime: ApiRoot | None = None
    live: InMemoryProvisioner = field(default_factory=InMemoryProvisioner)
    threads: list[threading.Thread] = field(default_factory=list)
    every_environment_live: bool = False  # else only environments named live* reach the in-memory cloud

    def _workflow(self, environment: str) -> ProvisioningWorkflow:
        assert self.runtime is not None
        live = self.every_environment_live or environment.startswith("live")
        provisioner = self.live if live else UnavailableProvisioner()
        return ProvisioningWorkflow(
            self.runtime.sessions, self.runtime.deps, provisioner, worker_id="test-worker", vault=self.runtime.vault
        )

    def _later(self, work: Callable[[], None]) -> None:
        thread = threading.Thread(target=work, daemon=True)
        self.threads.append(thread)
        thread.start()

    def provision(self, request_id: str) -> None:
        def work() -> None:
            with transaction(self.runtime.sessions) as session:
                environment = session.get_one(QuotaRequest, request_id).environment
            self._workflow(environment).provision(request_id)

        self._later(work)

    def preview(self, request_id: str) -> None:
        def work() -> None:
            with transaction(self.runtime.sessions) as session:
                environment = session.get_one(QuotaRequest, request_id).environment
            self._workflow(environment).preview(request_id)

        self._later(work)

    def repair(self, project_id: str) -> None:
        raise NotImplementedError("the CLI has no repair command")

    def decommission(self, project_id: str) -> None:
        def work() -> None:
            with transaction(self.runtime.sessions) as session:
                environment = session.get_one(Project, project_id).environment
            self._workflow(environment).decommission(project_id)

        self._later(work)


@dataclass
class Served:
    url: str
    runtime: ApiRoot
    queue: WorkerQueue


def device_token(api_url: str, username: str) -> str:
    """A user's token by the device flow, done by hand (approve first, then a single poll)."""
    issuer = f"{api_url}/issuer"
    with httpx.Client(timeout=10) as http:
        grant = http.post(f"{issuer}/device_authorization", data={"client_id": "sahab-cli"}).json()
        page = http.post(
            f"{issuer}/device",
            data={
                "user_code": grant["user_code"],
                "username": username,
                "password": PASSWORDS[username],
                "action": "approve",
            },
        )
        assert page.status_code == 200, page.text
        token = http.post(
            f"{issuer}/token",
            data={
                "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
                "device_code": grant["device_code"],
                "client_id": "sahab-cli",
            },
        )
        assert token.status_code == 200, token.text
        return token.json()["access_token"]


def write_credentials(
    home: Path, token: str, api_url: str, *, expires_at: float | None = None, grant: str = "device_code"
) -> None:
    directory = home / "sahab"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "credentials.json").write_text(
        json.dumps(
            {
                "access_token": token,
                "expires_at": expires_at or time.time() + 3000,
                "grant": grant,
                "api_url": api_url,
                "client_id": "sahab-cli",
            }
        )
    )


class Cli:
    """Run `sahab` in-process as a given user (each user has its own XDG_CONFIG_HOME)."""

    def __init__(self, served: Served, tokens: dict[str, str], tmp: Path) -> None:
        self.served, self.tokens, self.tmp = served, tokens, tmp
        self.runner = CliRunner()

    def home(self, user: str | None) -> Path:
        home = self.tmp / (user or "nobody")
        if user and not (home / "sahab" / "credentials.json").exists():
            write_credentials(home, self.tokens[user], self.served.url)
        home.mkdir(parents=True, exist_ok=True)
        return home

    def env(self, user: str | None, **extra: str | None) -> dict[str, str | None]:
        # English unless a test asks for a language, whatever the locale of the machine running the tests.
        language = {"SAHAB_LANG": None, "LC_ALL": None, "LC_MESSAGES": None, "LANG": "C.UTF-8"}
        return {
            "XDG_CONFIG_HOME": str(self.home(user)),
            "SAHAB_API_URL": self.served.url,
            "SAHAB_POLL_INTERVAL": "0.2",
            "SAHAB_CLIENT_ID": None,
            "SAHAB_CLIENT_SECRET": None,
            "SAHAB_DEBUG": None,
            "COLUMNS": "200",
            **language,
            **extra,
        }

    def __call__(self, *args: str, user: str | None = None, input: str | None = None, **env: str | None) -> Any:
        return self.runner.invoke(cli_app, list(args), env=self.env(user, **env), input=input, catch_exceptions=False)

    def json(self, *args: str, user: str | None = None, **env: str | None) -> Any:
        result = self("--output", "json", *args, user=user, **env)
        assert result.exit_code == 0, (result.stdout, result.stderr)
        return json.loads(result.stdout)


@dataclass
class External:
    """The real API trusting an outside identity provider (a conforming OAuth server on loopback)."""

    url: str
    issuer: OAuthIssuer
