"""Which projects' Nova and Cinder quotas a collection checks: never-checked and changed ones at
once, the rest spread evenly so each is checked within the period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from controlplane.metering.schedule import QuotaCheckState, quota_checks_due

T0 = datetime(2026, 12, 1, tzinfo=UTC)
HOUR, CYCLE = timedelta(hours=1), timedelta(minutes=5)


def due(projects, now):
    return quota_checks_due(projects, now, period=HOUR, interval=CYCLE)


def test_never_checked_and_changed_since_the_check_are_due_at_once():
    projects = [
        QuotaCheckState("new", T0, None),
        QuotaCheckState("changed", T0 + timedelta(seconds=2), T0 + timedelta(seconds=1)),
        *(QuotaCheckState(f"p{i}", T0, T0 + timedelta(seconds=1)) for i in range(100)),
    ]
    chosen = due(projects, T0 + timedelta(seconds=10))
    assert {"new", "changed"} <= chosen
    assert len(chosen) == 9  # ceil(102 / 12): the two fill most of this collection's share


def test_checks_spread_evenly_and_each_project_is_checked_within_the_period():
    checked = {f"p{i:03d}": T0 for i in range(120)}  # all checked at once (as after migration 0009)
    last = dict(checked)
    now = T0
    largest_gap = timedelta(0)
    for _ in range(36):  # three hours of collections
        now += CYCLE
        chosen = due([QuotaCheckState(pid, T0 - HOUR, at) for pid, at in checked.items()], now)
        assert len(chosen) == 10  # 120 projects x 5 min / 60 min
        for pid in chosen:
            largest_gap = max(largest_gap, now - last[pid])
            checked[pid] = last[pid] = now
    assert largest_gap <= HOUR


def test_overdue_projects_are_all_checked_even_beyond_the_share():
    # Collections stopped for two hours: everything is overdue, nothing waits another round.
    projects = [QuotaCheckState(f"p{i}", T0, T0) for i in range(50)]
    assert len(due(projects, T0 + 2 * HOUR)) == 50
