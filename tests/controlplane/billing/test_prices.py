"""The price list file: the shipped one loads; a malformed one is refused naming the place."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from controlplane.billing.prices import PriceListError, load_price_list, parse_price_list
from controlplane.settings import Settings


def listing(**resource: object) -> dict[str, object]:
    return {
        "currencies": {"business": "MAD", "agency": "CU"},
        "versions": [
            {
                "version": "a",
                "effective": date(2026, 1, 1),
                "resources": {"vcpus": {"basis": "granted", "business": "0.25", "agency": "0.18", **resource}},
            }
        ],
    }


def test_the_shipped_price_list_loads():
    prices = load_price_list()
    version = prices.at(datetime(2026, 12, 2, tzinfo=UTC))
    assert version is not None and version.resources["ram_mib"].per == 1024
    assert version.resources["vcpus"].prices["business"] == Decimal("0.25")
    assert prices.at(datetime(2025, 12, 31, tzinfo=UTC)) is None  # before the first version: free


@pytest.mark.parametrize(
    "change,message",
    [
        ({"business": 0.25}, "quoted decimal string"),
        ({"business": "-1"}, "a price is a finite number >= 0"),
        ({"business": "abc"}, "not a decimal number"),
        ({"basis": "hoped"}, "basis must be one of granted, measured"),
        ({"per": 0}, "per must be a whole number >= 1"),
    ],
)
def test_a_malformed_price_is_refused_with_its_place(change, message):
    with pytest.raises(PriceListError, match=message) as refused:
        parse_price_list(listing(**change))
    assert "versions[0].resources.vcpus" in str(refused.value)


def test_versions_are_checked_together():
    twice = listing()
    twice["versions"] = twice["versions"] * 2  # type: ignore[operator]
    with pytest.raises(PriceListError, match="same day"):
        parse_price_list(twice)
    unknown = listing()
    unknown["versions"][0]["resources"] = {"unicorns": {"basis": "granted", "business": "1", "agency": "1"}}  # type: ignore[index]
    with pytest.raises(PriceListError, match="unknown resource"):
        parse_price_list(unknown)


def test_settings_refuse_a_broken_price_list(tmp_path):
    broken = tmp_path / "prices.yaml"
    broken.write_text("currencies: {business: MAD}\nversions: []\n")
    with pytest.raises(ValueError, match="non-empty list `versions`"):
        Settings(price_list_path=broken, data_dir=tmp_path)


@pytest.mark.parametrize(
    "effective,accepted",
    [
        ("2026-01-01", True),  # quoted, as Helm's toYaml renders every date (helm/sahab priceList)
        ("2026-13-01", False),
        ("January 2026", False),
        ("20260101", False),
        (20260101, False),
        (None, False),
    ],
)
def test_the_effective_day_is_a_date_or_a_quoted_iso_date(effective, accepted):
    data = listing()
    data["versions"][0]["effective"] = effective  # type: ignore[index]
    if accepted:
        assert parse_price_list(data).versions[0].effective == date(2026, 1, 1)
    else:
        with pytest.raises(PriceListError, match="`effective` \\(a date, YYYY-MM-DD\\)"):
            parse_price_list(data)
