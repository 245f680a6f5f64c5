"""The real Prometheus tools (Debian package `prometheus`: prometheus and promtool) and the data the
monitoring tests scrape. When a tool is missing the tests FAIL with the install hint; they never skip."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from controlplane.metering.collect import MeteringCollector
from controlplane.persistence.database import transaction
from tests import factories
from tests.support.metering import FakeCloud

MONITORING = Path(__file__).resolve().parents[2] / "monitoring"
HINT = "install it with `apt-get install -y --no-install-recommends prometheus` (provides prometheus and promtool)"


def tool(name: str) -> str:
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if path is None:
        pytest.fail(f"{name} is not installed: {HINT}", pytrace=False)
    return path


def lint_problems(promtool: str, payload: bytes) -> list[str]:
    """promtool check metrics reads the exposition on stdin and prints one problem a line (exit 3 on lint)."""
    result = subprocess.run([promtool, "check", "metrics"], input=payload, capture_output=True, timeout=60)
    lines = [line for line in (result.stdout + result.stderr).decode().splitlines() if line.strip()]
    if result.returncode not in (0, 3):
        raise AssertionError(f"promtool check metrics failed to run ({result.returncode}): {lines}")
    return lines


def seed(runtime: Any) -> tuple[str, str]:
    """One active project, metered once from a fake cloud with 3 vCPUs used and the vCPU quota changed
    outside Sahab (drift); returns its OpenStack project id and Keystone name (sahab-{org}-{region}-{env})."""
    with transaction(runtime.sessions) as session:
        project = factories.active_project(session, deps=runtime.deps, environment="prod")
    name = f"sahab-{project.organisation_id}-{project.region_id}-{project.environment}"
    cloud = FakeCloud()
    cloud.set(project.openstack_project_id, {**project.granted, "vcpus": 6}, {"vcpus": 3, "volume_gib": 20}, name)
    MeteringCollector(
        runtime.sessions, runtime.catalogue, runtime.deps.clock, lambda region: cloud, timeout=5
    ).collect()
    return str(project.openstack_project_id), name
