"""/metrics survives a metrics file left unreadable by a process killed while growing it; the
openstack-exporter compatible series name a project as Keystone does."""

from __future__ import annotations

import struct
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.mmap_dict import MmapedDict

from controlplane.metering.collect import MeteringCollector
from controlplane.metrics import MeteringMetrics, TolerantMultiProcessCollector
from controlplane.persistence.database import transaction
from tests import factories
from tests.support.metering import FakeCloud


def _counter_file(directory: Path, pid: int, value: float) -> Path:
    path = directory / f"counter_{pid}.db"
    values = MmapedDict(str(path))
    values.write_value('["sahab_test_total", "sahab_test_total", {}, "help"]', value, 0.0)
    values.close()
    return path


def test_an_unreadable_file_is_skipped_and_the_others_are_served(tmp_path: Path) -> None:
    _counter_file(tmp_path, 1, 2.0)
    broken = _counter_file(tmp_path, 2, 5.0)
    with open(broken, "r+b") as handle:  # a header claiming more bytes than the file holds
        handle.write(struct.pack("i", 1 << 20))
    registry = CollectorRegistry()
    TolerantMultiProcessCollector(registry, path=str(tmp_path))

    exposition = generate_latest(registry).decode()

    assert "sahab_test_total 2.0" in exposition


def test_the_tenant_label_is_the_keystone_project_name_with_region_and_environment(sessions, deps) -> None:
    with transaction(sessions) as session:
        project = factories.active_project(session, deps=deps, region="rabat-1", environment="prod")
    name = f"sahab-{project.organisation_id}-rabat-1-prod"  # as provisioning names the Keystone project
    cloud = FakeCloud()
    cloud.set(project.openstack_project_id, dict(project.granted), {"vcpus": 1}, name)
    MeteringCollector(sessions, deps.catalogue, deps.clock, lambda region: cloud, timeout=5).collect()
    families = {f.name: f for f in MeteringMetrics(sessions, deps.catalogue, deps.clock, per_project=True).collect()}
    [sample] = families["openstack_nova_limits_vcpus_used"].samples
    assert sample.labels == {
        "tenant": name,
        "tenant_id": project.openstack_project_id,
        "region": "rabat-1",
        "project": project.id,
    }
    assert sample.value == 1
