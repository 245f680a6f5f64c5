"""The README's walkthrough with the CLI against a real API (HTTP, built-in issuer, demo programmes): a startup
registers with its profile, an operator verifies it, it applies, is enrolled at once and its medium request is
approved at once from the programme's reserve; operators see the report; approvers decide the other path."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from api.app import create_app
from controlplane.persistence.migrate import upgrade
from controlplane.programmes.catalogue import DEMO_PROGRAMMES
from controlplane.runtime import build_runtime
from controlplane.settings import Settings
from tests.support.cli import Cli, Served, WorkerQueue, device_token
from tests.support.identity import ServerThread
from tests.support.ports import free_port


@pytest.fixture(scope="module")
def served_with_programmes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp("cli-programmes")
    port, url = free_port(), f"sqlite:///{tmp_path_factory.getbasetemp() / 'cli-programmes.db'}"
    upgrade(url)
    settings = Settings(public_url=f"http://127.0.0.1:{port}", database_url=url, data_dir=tmp, broker_url="memory://",
                        demo_accounts=True, programmes_path=DEMO_PROGRAMMES)
    queue = WorkerQueue()
    runtime = build_runtime(settings, queue=queue)
    queue.runtime = runtime
    with ServerThread(create_app(settings, runtime=runtime), port=port) as server:
        served = Served(url=server.url, runtime=runtime, queue=queue)
        yield served, {user: device_token(server.url, user) for user in ("youssef", "salma")}
        for thread in queue.threads:
            thread.join(timeout=10)
    runtime.engine.dispose()


@pytest.fixture
def cli(served_with_programmes, tmp_path: Path) -> Cli:
    served, tokens = served_with_programmes
    return Cli(served, tokens, tmp_path)


def register(cli: Cli, name: str, *profile: str) -> dict:
    ice = f"{uuid.uuid4().int % 10**15:015d}"
    return cli.json("orgs", "register", "--kind", "business", "--name", name, "--national-id", ice,
                    "--email", "founders@startup.example.ma", *profile, user="youssef")


def test_a_startup_joins_a_programme_and_gets_its_quota_at_once(cli: Cli) -> None:
    listed = cli("programmes", "list", user="youssef")
    assert listed.exit_code == 0 and "startup-launch" in listed.stdout and "free" in listed.stdout
    founded = date.today().replace(year=date.today().year - 1).isoformat()
    org = register(cli, "Atlas Startup SARL", "--sector", "technology", "--employees", "6", "--founded", founded)
    assert org["sector"] == "technology" and org["profile_verified_at"] is None
    assert cli("admin", "verify-org", org["id"], user="salma").exit_code == 0
    shown = cli("programmes", "show", "startup-launch", "--org", org["id"], user="youssef")
    assert shown.exit_code == 0 and "eligible" in shown.stdout and "not eligible" not in shown.stdout
    enrolment = cli.json("programmes", "apply", "startup-launch", "--org", org["id"], user="youssef")
    assert enrolment["state"] == "enrolled"
    request = cli.json("request", "create", "--org", org["id"], "--region", "rabat-1", "--env", "prod",
                       "--preset", "medium", "--justification", "our first product", user="youssef")
    assert request["state"] == "approved" and "programme startup-launch" in request["reason"]
    report = cli("programmes", "report", "startup-launch", user="salma")
    assert report.exit_code == 0 and "enrolled: 1" in report.stdout
    assert "rabat-1 vCPU" in report.stdout and "reserved 32, granted 16" in report.stdout
    mine = cli("programmes", "enrolments", user="youssef")
    assert mine.exit_code == 0 and enrolment["id"] in mine.stdout
    early = cli("programmes", "choose", enrolment["id"], "shrink", user="youssef")
    assert early.exit_code == 6 and "the choice opens on" in early.stderr


def test_the_approver_path_and_errors(cli: Cli) -> None:
    org = register(cli, "Fes Textiles SARL", "--sector", "textiles", "--employees", "40")
    assert cli("admin", "verify-org", org["id"], user="salma").exit_code == 0
    pending = cli.json("programmes", "apply", "digital-transition", "--org", org["id"], user="youssef")
    assert pending["state"] == "pending"
    waiting = cli("programmes", "enrolments", "--state", "pending", user="salma")
    assert pending["id"] in waiting.stdout
    approved = cli.json("programmes", "approve", pending["id"], "--reason", "export plan checked", user="salma")
    assert approved["state"] == "enrolled" and approved["reason"].startswith("approved by")
    unknown = cli("programmes", "apply", "no-such", "--org", org["id"], user="youssef")
    assert unknown.exit_code == 5 and "known programmes" in unknown.stderr
    bad = cli("orgs", "profile", org["id"], "--sector", "mining", user="youssef")
    assert bad.exit_code == 7
    updated = cli.json("orgs", "profile", org["id"], "--employees", "45", user="youssef")
    assert updated["employees"] == 45 and updated["profile_verified_at"] is None
