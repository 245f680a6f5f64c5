"""Eligibility: a table of cases, each with the reasons it must give (empty: eligible)."""

from __future__ import annotations

from datetime import date

import pytest

from controlplane.programmes.catalogue import Programme
from controlplane.programmes.eligibility import Profile, ineligibility

TODAY = date(2026, 12, 2)


def programme(**eligibility: object) -> Programme:
    return Programme.model_validate(
        {
            "id": "p-test",
            "name": "Test",
            "eligibility": {"kinds": ["business"], **eligibility},
            "grant": {"preset": "small"},
            "length_months": 12,
            "price": {"free": True},
            "funding": {"rabat-1": {"preset": "small", "count": 2}},
        }
    )


STARTUP = programme(employees={"max": 50}, age={"max_years": 3})
SECTORS = programme(sectors=["textiles", "agriculture", "industry"], employees={"min": 5, "max": 250})
AGENCIES_TOO = programme(kinds=["business", "agency"], age={"min_years": 1})

CASES = [
    # (name, programme, profile, expected fragments of the reasons; [] = eligible)
    ("young small startup", STARTUP, Profile("business", "technology", 8, date(2025, 3, 1)), []),
    ("exactly 50 employees", STARTUP, Profile("business", None, 50, date(2025, 3, 1)), []),
    ("51 employees", STARTUP, Profile("business", None, 51, date(2025, 3, 1)), ["at most 50 employees, not 51"]),
    ("founded a day short of 3 years", STARTUP, Profile("business", None, 3, date(2023, 12, 3)), []),
    (
        "founded exactly 3 years ago",
        STARTUP,
        Profile("business", None, 3, date(2023, 12, 2)),
        ["founded less than 3 years ago"],
    ),
    (
        "agency",
        STARTUP,
        Profile("agency", "public", 3, date(2025, 1, 1)),
        ["open to business organisations, not agency"],
    ),
    (
        "nothing recorded",
        STARTUP,
        Profile("business", None, None, None),
        ["employee count is not recorded", "founding date is not recorded"],
    ),
    ("founded in the future", STARTUP, Profile("business", None, 3, date(2027, 1, 1)), ["is in the future"]),
    (
        "every rule broken at once",
        STARTUP,
        Profile("agency", None, 900, date(2001, 1, 1)),
        ["not agency", "not 900", "founded less than 3 years ago"],
    ),
    ("textiles firm of 40", SECTORS, Profile("business", "textiles", 40, None), []),
    (
        "services firm",
        SECTORS,
        Profile("business", "services", 40, None),
        ["open to the sectors textiles, agriculture, industry, not services"],
    ),
    ("sector not recorded", SECTORS, Profile("business", None, 40, None), ["sector is not recorded"]),
    ("four employees", SECTORS, Profile("business", "industry", 4, None), ["5 to 250 employees, not 4"]),
    ("agency founded long ago", AGENCIES_TOO, Profile("agency", "public", None, date(1990, 1, 1)), []),
    (
        "business founded this year",
        AGENCIES_TOO,
        Profile("business", None, None, date(2026, 6, 1)),
        ["founded at least 1 year ago"],
    ),
]


@pytest.mark.parametrize("name,programme,profile,expected", CASES, ids=[c[0] for c in CASES])
def test_eligibility(name, programme, profile, expected):
    reasons = ineligibility(programme, profile, TODAY)
    assert len(reasons) == len(expected), reasons
    for fragment, reason in zip(expected, reasons, strict=True):
        assert fragment in reason
