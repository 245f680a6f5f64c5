"""Regions, organisations, projects, usage; --output json for every list; the API being down."""

from __future__ import annotations

import stat
import uuid
from datetime import UTC, datetime
from pathlib import Path

import yaml

from controlplane.persistence.database import transaction
from controlplane.persistence.models import Membership, Organisation
from tests.support.cli import Cli, write_credentials
from tests.support.ports import free_port


def test_regions_table_and_json(cli: Cli) -> None:
    table = cli("regions", user="amina")
    assert table.exit_code == 0
    assert "rabat-1" in table.stdout and "casablanca-1" in table.stdout and "Free vCPUs" in table.stdout
    regions = cli.json("regions", user="amina")
    rabat = next(r for r in regions if r["id"] == "rabat-1")
    assert rabat["status"] == "open" and rabat["resources"]["vcpus"]["capacity"] == 256


def test_register_an_organisation(cli: Cli) -> None:
    ice = str(uuid.uuid4().int)[:15].rjust(15, "1")
    org = cli.json(
        "orgs",
        "register",
        "--kind",
        "business",
        "--name",
        "Test SARL",
        "--national-id",
        ice,
        "--email",
        "Ops@Test.example",
        user="youssef",
    )
    assert org["status"] == "pending_verification" and org["contact_email"] == "ops@test.example"
    assert cli.json("orgs", "show", org["id"], user="youssef")["status"] == "pending_verification"


def pending_organisation(cli: Cli) -> str:
    """A pending organisation with youssef as admin, written directly (cheaper than a unique ICE per test)."""
    org_id = "org_" + uuid.uuid4().hex[:20]
    runtime = cli.served.runtime
    now = datetime.now(UTC)
    with transaction(runtime.sessions) as session:
        session.add(
            Organisation(
                id=org_id,
                kind="business",
                legal_name="Pending SARL",
                national_id=str(uuid.uuid4().int)[:15],
                contact_email="p@pending.example",
                status="pending_verification",
                created_by="youssef",
                created_at=now,
            )
        )
        session.flush()
        session.add(Membership(organisation_id=org_id, subject="youssef", role="admin", created_at=now))
    return org_id


def test_verify_an_organisation_then_request_quota(cli: Cli) -> None:
    org_id = pending_organisation(cli)
    refused = cli(
        "request",
        "create",
        "--org",
        org_id,
        "--region",
        "rabat-1",
        "--env",
        "prod",
        "--preset",
        "small",
        "--justification",
        "too early",
        user="youssef",
    )
    assert refused.exit_code == 6 and "not verified" in refused.stderr
    # Verifying is for operators.
    assert cli("admin", "verify-org", org_id, user="youssef").exit_code == 4
    verified = cli("admin", "verify-org", org_id, user="salma")
    assert verified.exit_code == 0 and "verified" in verified.stdout
    assert cli.json("orgs", "show", org_id, user="youssef")["status"] == "verified"
    assert "Pending SARL" in cli("orgs", "show", org_id, user="youssef").stdout
    listed = cli.json("orgs", "list", "--all", user="youssef")
    assert {"org_demo_business", org_id} <= {o["id"] for o in listed["items"]}
    assert org_id in cli("orgs", "list", user="youssef").stdout
    created = cli.json(
        "request",
        "create",
        "--org",
        org_id,
        "--region",
        "rabat-1",
        "--env",
        "prod",
        "--preset",
        "small",
        "--justification",
        "now verified",
        user="youssef",
    )
    assert created["state"] == "approved"


def test_members(cli: Cli) -> None:
    org_id = pending_organisation(cli)
    added = cli("orgs", "add-member", org_id, "amina", "--role", "admin", user="youssef")
    assert added.exit_code == 0 and "amina is now admin" in added.stdout
    members = cli.json("orgs", "members", org_id, user="youssef")
    assert {(m["subject"], m["role"]) for m in members} == {("youssef", "admin"), ("amina", "admin")}
    assert "amina" in cli("orgs", "members", org_id, user="youssef").stdout
    assert cli("orgs", "remove-member", org_id, "amina", user="youssef").exit_code == 0
    assert [m["subject"] for m in cli.json("orgs", "members", org_id, user="youssef")] == ["youssef"]
    # Only admins manage members; other organisations are invisible.
    assert cli("orgs", "add-member", "org_demo_agency", "youssef", user="youssef").exit_code == 5

    # Bad input from the API is 7; an unknown kind is refused by the CLI itself (2).
    bad = cli(
        "orgs",
        "register",
        "--kind",
        "business",
        "--name",
        "X SARL",
        "--national-id",
        "123",
        "--email",
        "a@b.example",
        user="youssef",
    )
    assert bad.exit_code == 7 and "ICE" in bad.stderr
    assert (
        cli(
            "orgs",
            "register",
            "--kind",
            "club",
            "--name",
            "X",
            "--national-id",
            "1",
            "--email",
            "a@b.c",
            user="youssef",
        ).exit_code
        == 2
    )
    assert cli("orgs", "show", "org_demo_agency", user="youssef").exit_code == 5


def test_projects_credentials_usage_and_decommission(cli: Cli, tmp_path: Path) -> None:
    env = "live-" + uuid.uuid4().hex[:6]
    result = cli(
        "request",
        "create",
        "--region",
        "rabat-1",
        "--env",
        env,
        "--vcpus",
        "2",
        "--ram-gib",
        "2",
        "--justification",
        "a project",
        "--wait",
        "--timeout",
        "20",
        user="amina",
    )
    assert result.exit_code == 0, (result.stdout, result.stderr)
    projects = cli.json("projects", "list", "--org", "org_demo_agency", "--all", user="amina")
    project = next(p for p in projects["items"] if p["environment"] == env)
    assert project["state"] == "active" and project["granted"]["vcpus"] == 2
    assert project["id"] in cli("projects", "list", user="amina").stdout
    assert cli.json("projects", "show", project["id"], user="amina")["id"] == project["id"]
    assert "os-" in cli("projects", "show", project["id"], user="amina").stdout

    printed = cli("projects", "credentials", project["id"], user="amina")
    assert printed.exit_code == 0
    assert f"sahab-rabat-1-{env}" in yaml.safe_load(printed.stdout)["clouds"]
    target = tmp_path / "clouds.yaml"
    written = cli("projects", "credentials", project["id"], "--write", str(target), user="amina")
    assert written.exit_code == 0 and stat.S_IMODE(target.stat().st_mode) == 0o600
    assert yaml.safe_load(target.read_text()) == yaml.safe_load(printed.stdout)
    # Credentials are for the organisation's admins, not for staff.
    assert cli("projects", "credentials", project["id"], user="salma").exit_code == 4

    usage = cli.json("usage", "--org", "org_demo_agency", "--region", "rabat-1", user="amina")
    assert project["id"] in [u["project_id"] for u in usage]
    assert project["id"] in cli("usage", user="amina").stdout

    declined = cli("projects", "decommission", project["id"], user="amina", input="n\n")
    assert declined.exit_code == 1
    forced = cli("projects", "decommission", project["id"], "--yes", "--force", user="amina")
    assert forced.exit_code == 4 and "only an operator may force" in forced.stderr
    done = cli.json("projects", "decommission", project["id"], "--yes", user="amina")
    assert done["state"] == "decommissioning"
    again = cli("projects", "decommission", project["id"], "--yes", user="amina")
    assert again.exit_code == 6 and "only an active project" in again.stderr


def test_every_list_has_json_output(cli: Cli) -> None:
    for args in (("orgs", "list"), ("request", "list"), ("projects", "list"), ("admin", "requests")):
        page = cli.json(*args, user="salma")
        assert set(page) == {"items", "next_cursor"}
    assert isinstance(cli.json("regions", user="salma"), list)
    assert isinstance(cli.json("usage", user="salma"), list)
    assert cli.json("orgs", "members", "org_demo_agency", user="salma")[0]["subject"] == "amina"
    request = cli.json("request", "list", user="salma")["items"][0]
    assert cli.json("request", "events", request["id"], user="salma")[0]["to_state"] == "submitted"


def test_pages_are_followed_with_all(cli: Cli) -> None:
    # Both demo organisations plus any registered by other tests: more than one page of one.
    everything = cli.json("orgs", "list", "--all", user="salma")
    assert len(everything["items"]) >= 2 and everything["next_cursor"] is None


def test_api_down_exits_8(cli: Cli, tokens: dict[str, str]) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    write_credentials(cli.home(None), tokens["amina"], dead)  # a token obtained for the API that is now down
    result = cli("--api", dead, "regions")
    assert result.exit_code == 8
    assert result.stderr.startswith(f"Error: Cannot connect: {dead}")
    assert "Traceback" not in result.output
    login = cli("login", "--api", dead, "--client-id", "a", "--client-secret", "b")
    assert login.exit_code == 8


def test_help_documents_the_exit_codes(cli: Cli) -> None:
    result = cli("--help")
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "3 not authenticated" in text and "11 --wait timed out" in text
