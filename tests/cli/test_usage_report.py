"""`sahab usage --from --to --by` and --output table|json|csv."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

from controlplane.metering.collect import MeteringCollector
from controlplane.persistence.database import transaction
from controlplane.persistence.models import Project
from tests.support.metering import FakeCloud


def test_usage_period_report_in_every_output(cli, served):
    env = "live-meter-" + uuid.uuid4().hex[:6]  # "live-*" environments are provisioned by the fake worker
    created = cli(
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
        "metering",
        "--wait",
        "--timeout",
        "20",
        user="amina",
    )
    assert created.exit_code == 0, (created.stdout, created.stderr)
    project = next(p for p in cli.json("projects", "list", "--all", user="amina")["items"] if p["environment"] == env)
    runtime = served.runtime
    with transaction(runtime.sessions) as session:
        row = session.get_one(Project, project["id"])
        openstack_id = row.openstack_project_id
    cloud = FakeCloud()
    cloud.set(openstack_id, project["granted"], {"vcpus": 2, "ram_mib": 2048})
    # Only this project is read: others have no answer in the fake cloud and record an error.
    MeteringCollector(
        runtime.sessions, runtime.catalogue, runtime.deps.clock, lambda region: cloud, timeout=5
    ).collect()

    last = cli("usage", user="amina")  # the last reading, measured RAM with its unit beside the others'
    assert last.exit_code == 0 and "vcpus=2 ram=2GiB" in last.stdout, last.stdout

    start = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    rows = cli.json("usage", "--from", start, "--by", "project", user="amina")
    mine = next(r for r in rows if r["project_id"] == project["id"])
    assert mine["resources"]["vcpus"]["peak"] == 2 and mine["resources"]["vcpus"]["granted"] == 2

    text = cli("usage", "--from", start, "--by", "region", user="amina")
    assert text.exit_code == 0 and "Usage report" in text.stdout and "rabat-1" in text.stdout

    printed = cli("--output", "csv", "usage", "--from", start, "--by", "project", user="amina")
    assert printed.exit_code == 0, printed.stderr
    table = list(csv.DictReader(io.StringIO(printed.stdout)))
    assert "vCPU-h" in table[0] and any(r["Project"] == project["id"] and r["vCPUs peak"] == "2" for r in table)

    bad = cli("usage", "--from", "last tuesday", user="amina")
    assert bad.exit_code == 7 and "ISO 8601" in bad.stderr
    assert cli("usage", "--by", "planet", user="amina").exit_code == 2
