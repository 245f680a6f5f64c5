"""The shipped alert rules are valid and behave as their unit tests say (promtool test rules),
and the Grafana dashboard only queries metrics Sahab exports."""

from __future__ import annotations

import json
import re
import subprocess

from controlplane.metrics import EXPORTER_COMPATIBLE_NAMES
from tests.support.prometheus import MONITORING, lint_problems, seed, tool


def test_alert_rules_pass_their_unit_tests():
    promtool = tool("promtool")
    rules = MONITORING / "prometheus"
    check = subprocess.run(
        [promtool, "check", "rules", "alerts.yaml"], cwd=rules, capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stdout + check.stderr
    result = subprocess.run(
        [promtool, "test", "rules", "alerts_test.yaml"], cwd=rules, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0 and "SUCCESS" in result.stdout, result.stdout + result.stderr


def test_metrics_pass_promtool_lint_except_openstack_exporter_names(client, runtime):
    """promtool check metrics on the real /metrics payload: the only findings allowed are on the
    names kept identical to openstack-exporter's (e.g. *_used_gb) so dashboards carry over."""
    seed(runtime)
    payload = client.get("/metrics").content
    assert b"openstack_nova_limits_vcpus_used" in payload and b"sahab_region_used" in payload
    problems = lint_problems(tool("promtool"), payload)
    unexpected = [p for p in problems if p.split()[0] not in EXPORTER_COMPATIBLE_NAMES]
    assert unexpected == [], problems


def test_dashboard_queries_known_metrics(client):
    dashboard = json.loads((MONITORING / "grafana" / "sahab.json").read_text())
    assert dashboard["title"] == "Sahab" and dashboard["panels"]
    expressions = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    names = {n for e in expressions for n in re.findall(r"\b((?:sahab|openstack)_[a-z_]+)\b", e)}
    text = (MONITORING / "prometheus" / "alerts.yaml").read_text()
    known = {n for n in re.findall(r"\b(sahab_[a-z_]+)\b", client.get("/metrics").text + text)}
    known |= EXPORTER_COMPATIBLE_NAMES | {
        "sahab_metering_collection_duration_seconds_bucket",
        "sahab_metering_failures_total",
        "sahab_provisioning_duration_seconds_count",
    }
    # Served by the workers' own /metrics and, for consumers, by a RabbitMQ-backed API (tests/controlplane/observability).
    known |= {
        "sahab_task_duration_seconds_bucket",
        "sahab_task_duration_seconds_count",
        "sahab_task_retries_total",
        "sahab_task_redeliveries_total",
        "sahab_queue_consumers",
    }
    assert names and names <= known, names - known
