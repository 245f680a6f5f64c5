"""`sahab prices`, `sahab request create --dry-run`, `sahab budget set|show|remove`,
`sahab statements list|show|download` against the real API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from controlplane.billing import statements
from controlplane.persistence.database import transaction
from controlplane.persistence.models import Organisation
from tests import factories

ORG = "org_demo_business"  # youssef's


@pytest.fixture
def last_month_statement(served) -> str:
    start = (datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)).replace(
        day=1
    )
    with transaction(served.runtime.sessions) as session:
        project = factories.active_project(
            session, ORG, created_at=start - timedelta(days=2), state="decommissioned", granted={"vcpus": 1}
        )
        factories.usage_sample(session, project, start - timedelta(days=1), quota={"vcpus": 1})
        factories.decommissioned(session, project, start + timedelta(days=2))  # 48 h x 0.25 = 12.00 MAD
        return statements.issue(
            session,
            served.runtime.deps.billing,
            session.get_one(Organisation, ORG),
            f"{start.year:04d}-{start.month:02d}",
            datetime.now(UTC),
        ).id


def test_prices_are_shown(cli):
    shown = cli("prices", user="youssef")
    assert shown.exit_code == 0 and "vcpus" in shown.stdout and "Business (MAD)" in shown.stdout


def test_dry_run_shows_the_estimate_and_a_blocking_budget_refuses(cli):
    # --org everywhere: other tests of the session may have made youssef a member of more organisations
    request = (
        "request",
        "create",
        "--org",
        ORG,
        "--region",
        "rabat-1",
        "--env",
        "budgeted",
        "--preset",
        "small",
        "--justification",
        "how much",
    )
    try:
        dry = cli(*request, "--dry-run", user="youssef")
        assert dry.exit_code == 0, dry.output
        assert "MAD a month" in dry.stdout and "--dry-run" in dry.stdout
        assert "budgeted" not in cli("request", "list", "--all", user="youssef").stdout  # nothing was sent
        assert cli("budget", "set", "100", "--block", "--org", ORG, user="youssef").exit_code == 0
        shown = cli.json("budget", "show", "--org", ORG, user="youssef")
        assert shown["amount"] == "100.00" and shown["block_increases"] is True
        assert "ABOVE the budget" in cli(*request, "--dry-run", user="youssef").stdout
        refused = cli(*request, user="youssef")
        assert refused.exit_code == 6 and "budget of 100.00 MAD" in refused.stderr
        assert cli("budget", "set", "1.234", "--org", ORG, user="youssef").exit_code == 7
        assert cli("budget", "show", "--org", ORG, user="amina").exit_code == 5  # another organisation's
    finally:
        cli("budget", "remove", "--org", ORG, user="youssef")


@pytest.mark.pdf
def test_statements_list_show_and_download(cli, last_month_statement, tmp_path):
    listed = cli.json("statements", "list", "--all", user="youssef")
    mine = next(s for s in listed["items"] if s["id"] == last_month_statement)
    assert mine["state"] == "issued" and mine["total"] == "12.00"
    shown = cli("statements", "show", last_month_statement, user="youssef")
    assert shown.exit_code == 0 and "12.00 MAD" in shown.stdout and mine["number"] in shown.stdout
    pdf = tmp_path / "statement-ar.pdf"
    written = cli("statements", "download", last_month_statement, "--lang", "ar", "--out", str(pdf), user="youssef")
    assert written.exit_code == 0 and pdf.read_bytes().startswith(b"%PDF")
    csv = tmp_path / "statement.csv"
    assert (
        cli(
            "statements", "download", last_month_statement, "--format", "csv", "--out", str(csv), user="youssef"
        ).exit_code
        == 0
    )
    assert "12.00" in csv.read_text()
    assert cli("statements", "show", last_month_statement, user="amina").exit_code == 5
