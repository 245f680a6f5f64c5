"""The devcloud's service table: one place for names, ports, start conditions and checks."""

import pytest

from devcloud.sahabdevcloud import cloud
from devcloud.sahabdevcloud.services import (
    CATALOGUE,
    KEYSTONE_REGISTERED,
    PLACEMENT_UP,
    RABBIT_UP,
    REGION_ONE,
    REGION_TWO,
    TABLE,
    Paths,
    all_ports,
    by_name,
    catalogue_services,
    in_region,
    region_services,
    services,
)


def test_every_name_and_port_is_used_once():
    table = services(with_region_two=True)
    names = [s.name for s in table]
    ports = [p for s in table for p in s.ports]
    assert len(names) == len(set(names))
    assert len(ports) == len(set(ports))


def test_the_ports_are_the_documented_ones():
    assert all_ports(with_region_two=False) == {
        5433, 4369, 5672, 25672, 5000, 8778, 9292, 8774, 8776, 9696, 8890, 6200, 6201, 6202
    }  # fmt: skip
    assert all_ports(with_region_two=True) - all_ports(with_region_two=False) == {18778, 18774, 18776, 19696}


def test_region_two_is_region_one_s_regional_services_moved_by_prefix_and_port_offset():
    two = region_services(REGION_TWO)
    regional = [s for s in TABLE if s.regional]
    assert [s.name for s in two] == ["r2-" + s.base for s in regional]
    assert [s.ports for s in two] == [tuple(p + 10000 for p in s.ports) for s in regional]
    assert {s.base for s in two} == {
        "placement", "nova-api", "nova-conductor", "nova-scheduler", "nova-compute",
        "cinder-api", "cinder-scheduler", "cinder-volume", "neutron-server",
    }  # fmt: skip
    # keystone, glance, the infrastructure and Swift are RegionOne's only
    assert not {"keystone", "glance-api", "postgres", "rabbitmq", "swift-proxy"} & {s.base for s in two}


def test_a_shared_service_cannot_be_moved_to_another_region():
    with pytest.raises(AssertionError):
        in_region(by_name("keystone"), REGION_TWO)


def test_status_order_is_region_one_then_region_two():
    names = [s.name for s in services(with_region_two=True)]
    assert names[:4] == ["postgres", "epmd", "rabbitmq", "keystone"]
    assert names.index("swift-proxy") < names.index("r2-placement")
    assert [s.name for s in services(with_region_two=False)] == names[: len(TABLE)]


def test_commands_follow_the_region():
    paths = Paths(state=__import__("pathlib").Path("/s"), here=__import__("pathlib").Path("/d"))
    assert by_name("r2-nova-api").argv(paths) == [
        "/usr/bin/nova-api",
        "--config-file",
        "/s/r2/nova/nova.conf",
        "--config-file",
        "/s/r2/nova/nova-db.conf",
        "--log-file",
        "/s/logs/r2-nova-api.log",
    ]
    # nova-compute gets no database URLs
    assert "/s/nova/nova-db.conf" not in by_name("nova-compute").argv(paths)
    assert by_name("r2-placement").argv(paths) == ["uwsgi", "--ini", "/s/r2/placement/uwsgi.ini"]
    assert by_name("neutron-server").env is not None
    assert by_name("neutron-server").env(paths) == {"PYTHONPATH": "/d/pylib"}
    assert by_name("postgres").command is None  # started through pg_ctl


def test_start_conditions_and_checks_are_known():
    for service in services(with_region_two=True):
        assert set(service.after) <= {RABBIT_UP, PLACEMENT_UP, KEYSTONE_REGISTERED}, service.name
        assert service.ready is None or service.ready in cloud.CHECKS, service.name
    compute = by_name("r2-nova-compute")
    assert PLACEMENT_UP in compute.after and KEYSTONE_REGISTERED in compute.after


def test_readiness_covers_each_region_and_the_shared_services():
    one = [s.name for s in cloud.checked_services(REGION_ONE)]
    two = [s.name for s in cloud.checked_services(REGION_TWO)]
    assert one[0] == "keystone" and "swift-proxy" in one and "nova-compute" in one
    assert two[:2] == ["keystone", "glance-api"]
    assert "swift-proxy" not in two and "r2-nova-compute" in two


def test_catalogue_endpoints_per_region():
    urls = {s.base: cloud.endpoint_url(s) for s in catalogue_services(REGION_ONE)}
    assert urls == {
        "placement": "http://127.0.0.1:8778",
        "glance-api": "http://127.0.0.1:9292",
        "nova-api": "http://127.0.0.1:8774/v2.1",
        "cinder-api": "http://127.0.0.1:8776/v3/%(project_id)s",
        "neutron-server": "http://127.0.0.1:9696",
    }
    two = {s.base: cloud.endpoint_url(s) for s in catalogue_services(REGION_TWO)}
    assert two["glance-api"] == "http://127.0.0.1:9292"  # shared
    assert two["nova-api"] == "http://127.0.0.1:18774/v2.1"
    assert set(two) == set(CATALOGUE)
