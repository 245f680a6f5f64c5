"""The README's walkthrough with the CLI against a real API (HTTP, built-in issuer, demo programmes): a startup
registers with its profile, an operator verifies it, it applies, is enrolled at once and its medium request is
approved at once from the programme's reserve; operators see the report; approvers decide the other path.
And the whole story of README "A startup's first year" with a controlled clock: notices by e-mail (aiosmtpd),
a 0 MAD statement during the programme, the listed price after it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from api.app import create_app
from api.auth.verifier import TokenVerifier
from controlplane.billing import schedule
from controlplane.clock import FrozenClock
from controlplane.composition import build_api, worker_root
from controlplane.persistence.database import transaction
from controlplane.persistence.migrate import upgrade
from controlplane.persistence.models import Project
from controlplane.programmes.catalogue import DEMO_PROGRAMMES
from controlplane.settings import Settings
from tests import factories
from tests.support.cli import Cli, Served, WorkerQueue, device_token
from tests.support.identity import ServerThread
from tests.support.ports import free_port
from tests.support.smtp import SmtpServer, smtp_server


@pytest.fixture(scope="module")
def served_with_programmes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp("cli-programmes")
    port, url = free_port(), f"sqlite:///{tmp_path_factory.getbasetemp() / 'cli-programmes.db'}"
    upgrade(url)
    settings = Settings(
        public_url=f"http://127.0.0.1:{port}",
        database_url=url,
        data_dir=tmp,
        broker_url="memory://",
        demo_accounts=True,
        programmes_path=DEMO_PROGRAMMES,
    )
    queue = WorkerQueue()
    runtime = build_api(settings, queue=queue)
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
    return cli.json(
        "orgs",
        "register",
        "--kind",
        "business",
        "--name",
        name,
        "--national-id",
        ice,
        "--email",
        "founders@startup.example.ma",
        *profile,
        user="youssef",
    )


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
    request = cli.json(
        "request",
        "create",
        "--org",
        org["id"],
        "--region",
        "rabat-1",
        "--env",
        "prod",
        "--preset",
        "medium",
        "--justification",
        "our first product",
        user="youssef",
    )
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


# -- README "A startup's first year": the same commands, with beat's steps run where the clock reaches them ------
JOINED = datetime(2026, 2, 1, 9, tzinfo=UTC)
ENDS = datetime(2027, 2, 1, 9, tzinfo=UTC)
QUOTA = {"vcpus": 16, "ram_mib": 32768, "floating_ips": 5, "volume_gib": 500, "object_gib": 100}
USED = {"vcpus": 6, "ram_mib": 12288, "volume_gib": 40, "object_gib": 20}


@pytest.fixture
def story(tmp_path: Path) -> Iterator[tuple[Served, FrozenClock, SmtpServer]]:
    """A real API whose clock the test moves (its issuer and token checks follow the same clock), the demo
    programmes, and a real SMTP server on loopback."""
    clock, port, url = FrozenClock(JOINED), free_port(), f"sqlite:///{tmp_path / 'story.db'}"
    upgrade(url)
    with smtp_server() as smtp:
        settings = Settings(
            public_url=f"http://127.0.0.1:{port}",
            database_url=url,
            data_dir=tmp_path / "data",
            broker_url="memory://",
            demo_accounts=True,
            programmes_path=DEMO_PROGRAMMES,
            smtp_host=smtp.host,
            smtp_port=smtp.port,
            smtp_sender="sahab@cloud.example.ma",
        )
        queue = WorkerQueue(every_environment_live=True)
        runtime = build_api(settings, queue=queue, clock=clock)
        queue.runtime = runtime
        app = create_app(settings, runtime=runtime, verifier=TokenVerifier.from_settings(settings, clock=clock))
        with ServerThread(app, port=port) as server:
            yield Served(url=server.url, runtime=runtime, queue=queue), clock, smtp
            for thread in queue.threads:
                thread.join(timeout=10)
        runtime.engine.dispose()


def signed_in(served: Served, tmp_path: Path, moment: datetime) -> Cli:
    """`sahab login` again once the clock has moved (tokens are valid for an hour of the API's clock)."""
    return Cli(
        served,
        {user: device_token(served.url, user) for user in ("youssef", "salma")},
        tmp_path / moment.strftime("%Y%m%d%H"),
    )


def test_a_startups_first_year_free_then_at_the_listed_price(story, tmp_path: Path) -> None:
    served, clock, smtp = story
    runtime = served.runtime
    cli = signed_in(served, tmp_path, JOINED)
    org = register(cli, "Atlas Startup SARL", "--sector", "technology", "--employees", "6", "--founded", "2025-06-01")
    assert cli("admin", "verify-org", org["id"], user="salma").exit_code == 0
    enrolment = cli.json("programmes", "apply", "startup-launch", "--org", org["id"], user="youssef")
    assert enrolment["state"] == "enrolled" and datetime.fromisoformat(enrolment["ends_at"]) == ENDS
    request = cli.json(
        "request",
        "create",
        "--org",
        org["id"],
        "--region",
        "rabat-1",
        "--env",
        "prod",
        "--preset",
        "medium",
        "--justification",
        "our first product",
        "--wait",
        user="youssef",
    )
    assert request["state"] == "active", request
    regions = cli("regions", user="youssef")
    assert regions.exit_code == 0 and "startup-launch: 16 of 32 vCPUs free" in regions.stdout, regions.stdout
    with transaction(runtime.sessions) as session:  # what the metering collection reads from the cloud
        project = session.get_one(Project, request["project_id"])
        factories.usage_sample(session, project, JOINED + timedelta(hours=1), quota=QUOTA, used=USED)

    # 1 March: beat issues February's statement. 662 h from the first reading; 3368.26 MAD at list prices, all off.
    clock._now = datetime(2026, 3, 1, 1, tzinfo=UTC)
    schedule.run(runtime.sessions, runtime.deps.billing, clock, runtime.deps.queue)
    cli = signed_in(served, tmp_path, clock.now())
    [february] = cli.json("statements", "list", "--month", "2026-02", user="youssef")["items"]
    assert (february["state"], february["list_total"], february["total"]) == ("issued", "3368.26", "0.00")
    shown = cli("statements", "show", february["id"], user="youssef")
    assert shown.exit_code == 0 and "0.00 MAD" in shown.stdout and "100.00 % (startup-launch)" in shown.stdout
    assert "3368.26 MAD" in shown.stdout, shown.stdout
    pdf = tmp_path / "february.pdf"
    assert (
        cli("statements", "download", february["id"], "--lang", "fr", "--out", str(pdf), user="youssef").exit_code == 0
    )
    assert pdf.read_bytes().startswith(b"%PDF")

    # 30 days before the end: the first notice (e-mail to the contact address); the choice opens.
    clock._now = ENDS - timedelta(days=30)
    worker_root(runtime).programme_scheduler.run()
    [notice] = smtp.wait_for(1)
    assert notice["To"] == "founders@startup.example.ma" and "in 30 days" in notice["Subject"]
    cli = signed_in(served, tmp_path, clock.now())
    mine = cli("programmes", "enrolments", user="youssef")
    assert mine.exit_code == 0 and enrolment["id"] in mine.stdout
    assert cli.json("programmes", "choose", enrolment["id"], "continue", user="youssef")["choice"] == "continue"
    for days in (7, 1):
        clock._now = ENDS - timedelta(days=days)
        worker_root(runtime).programme_scheduler.run()
    assert [m["Subject"].rsplit("(", 1)[1] for m in smtp.wait_for(3)] == ["in 30 days)", "in 7 days)", "in 1 day)"]

    # The end: continued at the normal price, the project in the general pool as it is.
    clock._now = ENDS
    assert worker_root(runtime).programme_scheduler.run().continued == [enrolment["id"]]
    with transaction(runtime.sessions) as session:
        factories.usage_sample(session, session.get_one(Project, request["project_id"]), ENDS, quota=QUOTA, used=USED)
    clock._now = datetime(2027, 3, 1, 1, tzinfo=UTC)
    schedule.run(runtime.sessions, runtime.deps.billing, clock, runtime.deps.queue)
    cli = signed_in(served, tmp_path, clock.now())
    assert cli.json("programmes", "enrolments", user="youssef")["items"][0]["state"] == "continued"
    [paid] = cli.json("statements", "list", "--month", "2027-02", user="youssef")["items"]
    # 672 h: 2688.00 + 645.12 + 67.20 (floating IPs) + 18.82 (volumes) + 2.69 (object storage, priced from 2027)
    assert (paid["list_total"], paid["discount_total"], paid["total"]) == ("3421.83", "0.00", "3421.83")
    shown = cli("statements", "show", paid["id"], user="youssef")
    assert shown.exit_code == 0 and "3421.83 MAD" in shown.stdout and "startup-launch" not in shown.stdout
