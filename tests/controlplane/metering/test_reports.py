"""Period reports: step-function integrals, peaks and averages, grouping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from controlplane.metering.reports import Series, bucket_size, statistics, sum_series, usage_over_time, usage_report
from controlplane.persistence.database import transaction
from tests import factories

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def test_statistics_of_a_step_function():
    series = Series([(h(0), {"vcpus": 2}), (h(1), {"vcpus": 4}), (h(3), {"vcpus": 0})])
    stats = statistics(series, h(4))["resources"]["vcpus"]
    assert stats["unit_seconds"] / 3600 == 2 * 1 + 4 * 2 + 0 * 1
    assert stats["peak"] == 4 and stats["average"] == 10 / 4


def test_group_peak_is_the_peak_of_the_sum():
    a = Series([(h(0), {"vcpus": 4}), (h(2), {"vcpus": 0})])
    b = Series([(h(1), {"vcpus": 3}), (h(3), {"vcpus": 0})])
    total = statistics(sum_series([a, b]), h(4))["resources"]["vcpus"]
    assert total["peak"] == 7  # 4 + 3 during [1, 2), not 4 + 3 by chance: the sum of peaks would also be 7
    c = Series([(h(2), {"vcpus": 4})])
    total = statistics(sum_series([a, c]), h(4))["resources"]["vcpus"]
    assert total["peak"] == 4  # a and c never overlap: the sum of peaks (8) would be wrong
    assert total["unit_seconds"] / 3600 == 4 * 2 + 4 * 2


def test_report_over_collected_samples(sessions, deps, collector, clouds, active_project, clock):
    clock._now = h(0)
    one, two = active_project("one"), active_project("two")
    cloud = clouds["rabat-1"]
    for vcpus, ram, volume in ((1, 1024, 10), (3, 2048, 10), (0, 0, 0)):
        cloud.set(one.openstack_project_id, dict(one.granted), {"vcpus": vcpus, "ram_mib": ram, "volume_gib": volume})
        cloud.set(two.openstack_project_id, dict(two.granted), {"vcpus": 2, "ram_mib": 1024, "volume_gib": 0})
        collector.collect()
        clock.advance(hours=1)
    # samples at 0h, 1h, 2h; report the window [0.5h, 3h) at now = 3h
    with transaction(sessions) as session:
        rows = usage_report(session, factories.approver(), start=h(0.5), end=h(3), now=clock.now(), by="project")
        by_region = usage_report(session, factories.approver(), start=h(0.5), end=h(3), now=clock.now(), by="region")
        org_rows = usage_report(
            session, factories.person("owner"), start=h(0.5), end=h(10), now=clock.now(), by="organisation"
        )
    first = next(r for r in rows if r["project_id"] == one.id)
    # 1 vCPU carried in for 0.5h, 3 for 1h, 0 for 1h
    assert first["vcpu_hours"] == 0.5 + 3
    assert first["ram_gib_hours"] == 0.5 * 1 + 1 * 2
    assert first["volume_gib_hours"] == 0.5 * 10 + 1 * 10
    assert first["resources"]["vcpus"]["peak"] == 3 and first["resources"]["vcpus"]["granted"] == 4
    assert first["resources"]["vcpus"]["average"] == round(3.5 / 2.5, 4)
    assert first["samples"] == 2
    region = by_region[0]
    assert region["region_id"] == "rabat-1" and region["projects"] == 2
    assert region["vcpu_hours"] == 3.5 + 2 * 2.5 and region["resources"]["vcpus"]["peak"] == 5
    # `owner` is admin of both factory organisations; the report stops at now, not at `to`
    assert sum(r["vcpu_hours"] for r in org_rows) == 3.5 + 2 * 2.5


def test_report_keeps_visibility(sessions, deps, collector, clouds, active_project, clock):
    mine = active_project("mine")
    clouds["rabat-1"].set(mine.openstack_project_id, dict(mine.granted), {"vcpus": 1})
    collector.collect()
    clock.advance(hours=1)
    with transaction(sessions) as session:
        assert usage_report(session, factories.person("stranger"), start=h(-1), end=h(5), now=clock.now()) == []


def test_usage_over_time_splits_the_same_integral_into_buckets(
    sessions, deps, collector, clouds, active_project, clock
):
    clock._now = h(0)
    one, two = active_project("one"), active_project("two")
    cloud = clouds["rabat-1"]
    for vcpus in (1, 3, 0):
        cloud.set(one.openstack_project_id, dict(one.granted), {"vcpus": vcpus, "ram_mib": 1024})
        cloud.set(two.openstack_project_id, dict(two.granted), {"vcpus": 2, "ram_mib": 1024})
        collector.collect()
        clock.advance(hours=1)
    with transaction(sessions) as session:
        buckets = usage_over_time(session, factories.approver(), start=h(0.5), end=h(10), now=clock.now())
        total = usage_report(session, factories.approver(), start=h(0.5), end=h(10), now=clock.now(), by="region")
        hidden = usage_over_time(session, factories.person("stranger"), start=h(0.5), end=h(10), now=clock.now())
    # hourly, cut at whole hours, stopping at now (3h): [0.5,1) [1,2) [2,3)
    assert [(b["from"], b["to"]) for b in buckets] == [(h(0.5), h(1)), (h(1), h(2)), (h(2), h(3))]
    assert [b["vcpu_hours"] for b in buckets] == [0.5 * 3, 5, 2]
    assert [b["resources"]["vcpus"]["peak"] for b in buckets] == [3, 5, 2]
    assert buckets[1]["resources"]["vcpus"]["average"] == 5
    assert sum(b["vcpu_hours"] for b in buckets) == total[0]["vcpu_hours"]
    assert sum(b["ram_gib_hours"] for b in buckets) == total[0]["ram_gib_hours"]
    assert all(b["vcpu_hours"] == 0 for b in hidden)  # a stranger sees buckets of nothing


def test_bucket_size_is_hours_for_short_periods_and_days_otherwise():
    assert bucket_size(h(0), h(48)) == timedelta(hours=1)
    assert bucket_size(h(0), h(49)) == timedelta(days=1)
