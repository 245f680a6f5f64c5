"""Programme gauges for /metrics, from the operators' report (database rows only)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from controlplane.domain.resources import Resource
from controlplane.metrics import in_base_units, resource_label
from controlplane.programmes.report import ProgrammeReport

WINDOWS = (("30d", timedelta(days=30)), ("7d", timedelta(days=7)), ("1d", timedelta(days=1)))


class ProgrammeCollector(Collector):
    def __init__(self, read: Callable[[], tuple[datetime, list[ProgrammeReport]]]) -> None:
        self._read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now, reports = self._read()
        enrolments = GaugeMetricFamily(
            "sahab_programme_enrolments", "Enrolments (and applications) by state.", labels=["programme", "state"]
        )
        at_region = ["programme", "region", "resource"]
        reserved = GaugeMetricFamily(
            "sahab_programme_reserved",
            "Capacity reserved for the programme, kept out of the general pool.",
            labels=at_region,
        )
        granted = GaugeMetricFamily(
            "sahab_programme_granted", "Quota granted from the programme's reserve.", labels=at_region
        )
        used = GaugeMetricFamily(
            "sahab_programme_used", "Usage of programme-funded projects (last metering collection).", labels=at_region
        )
        expiring = GaugeMetricFamily(
            "sahab_programme_expiring_enrolments",
            "Enrolments (enrolled, or expired and in their grace period) ending within the window.",
            labels=["programme", "within"],
        )
        expired = GaugeMetricFamily(
            "sahab_programme_awaiting_choice", "Expired enrolments without a choice yet.", labels=["programme"]
        )
        for report in reports:
            for state, count in report.enrolments.items():
                enrolments.add_metric([report.programme, state], count)
            for region, resources in report.regions.items():
                for name, values in resources.items():
                    resource = Resource(name)
                    label = [report.programme, region, resource_label(resource)]
                    reserved.add_metric(label, in_base_units(resource, values["reserved"]))
                    granted.add_metric(label, in_base_units(resource, values["granted"]))
                    used.add_metric(label, in_base_units(resource, values["used"]))
            for window, length in WINDOWS:
                expiring.add_metric(
                    [report.programme, window],
                    sum(1 for e in report.expiring if e.state == "enrolled" and e.ends_at <= now + length),
                )
            expired.add_metric(
                [report.programme], sum(1 for e in report.expiring if e.state == "expired" and not e.choice)
            )
        yield from (enrolments, reserved, granted, used, expiring, expired)

    def describe(self) -> list[Any]:
        return []
