"""The programme catalogue: the demo loads, mistakes are refused naming what is wrong, and the reserves come
out of the general pool before the agencies' share is taken from it."""

from __future__ import annotations

import math
from datetime import date

import pytest
import yaml

from controlplane.domain.regions import DEMO_CATALOGUE, load_catalogue
from controlplane.domain.resources import PRESETS, Resource
from controlplane.domain.states import OrganisationKind
from controlplane.errors import InvalidInput
from controlplane.programmes.catalogue import DEMO_PROGRAMMES, add_months, load_programmes, with_reserves

REGIONS = load_catalogue(DEMO_CATALOGUE)


def test_a_preset_reserve_holds_no_object_storage_where_the_region_offers_none(tmp_path):
    """casablanca-1 has no Swift: a medium reserve there is medium without object_gib, as a medium request
    there is; explicit object storage amounts there are more than its capacity."""
    region = with_reserves(REGIONS, load_programmes(DEMO_PROGRAMMES, REGIONS)).get("casablanca-1")
    reserved = region.reserved_for("digital-transition")
    assert reserved[Resource.OBJECT_GIB] == 0 and reserved[Resource.VCPUS] == PRESETS["medium"][Resource.VCPUS]
    assert reserved == region.preset("medium")
    with pytest.raises(InvalidInput, match="reserve 10 object_gib in casablanca-1, more than its capacity 0"):
        load_programmes(
            write(
                tmp_path,
                grant={"amounts": {"vcpus": 1}},
                funding={"casablanca-1": {"amounts": {"vcpus": 1, "object_gib": 10}}},
            ),
            REGIONS,
        )


def write(tmp_path, **override):
    programme = {
        "id": "p-one",
        "name": "One",
        "eligibility": {"kinds": ["business"]},
        "grant": {"preset": "small"},
        "length_months": 6,
        "price": {"discount_percent": 25},
        "funding": {"rabat-1": {"preset": "small"}},
        **override,
    }
    path = tmp_path / "programmes.yaml"
    path.write_text(yaml.safe_dump({"programmes": [programme]}))
    return path


def test_the_demo_loads_and_the_reserve_leaves_the_general_pool():
    programmes = load_programmes(DEMO_PROGRAMMES, REGIONS)
    region = with_reserves(REGIONS, programmes).get("rabat-1")
    reserved = region.reserved_for("startup-launch")
    assert reserved == {r: 2 * v for r, v in PRESETS["medium"].items()}
    effective = region.effective_capacity()
    for resource in Resource:
        general = effective[resource] - reserved[resource]
        assert region.general_capacity()[resource] == general
        assert region.limit_for(OrganisationKind.AGENCY)[resource] == general
        assert region.limit_for(OrganisationKind.BUSINESS)[resource] == math.floor(general * 0.75)


@pytest.mark.parametrize(
    "override,message",
    [
        ({"funding": {"tanger-1": {"preset": "small"}}}, "funds unknown region tanger-1"),
        ({"funding": {"rabat-1": {"preset": "large", "count": 2}}}, "more than its capacity"),
        ({"grant": {"preset": "medium"}}, "reserves less than one grant in rabat-1"),
        ({"grant": {"preset": "huge"}}, "unknown preset"),
        ({"grant": {"amounts": {"vcpus": 2, "gpus": 1}}}, "unknown resource"),
        ({"grant": {"preset": "small", "amounts": {"vcpus": 1}}}, "either preset"),
        ({"price": {"free": True, "discount_percent": 10}}, "either free"),
        ({"price": {"discount_percent": 120}}, "less than or equal to 100"),
        ({"eligibility": {"kinds": []}}, "at least 1 item"),
        ({"eligibility": {"kinds": ["business"], "employees": {"min": 9, "max": 3}}}, "above max"),
        ({"eligibility": {"kinds": ["business"], "sectors": ["mining"]}}, "sectors"),
        ({"length_months": 0}, "greater than or equal to 1"),
        ({"surprise": 1}, "Extra inputs are not permitted"),
    ],
)
def test_mistakes_are_refused_with_what_is_wrong(tmp_path, override, message):
    with pytest.raises(InvalidInput, match=message):
        load_programmes(write(tmp_path, **override), REGIONS)


def test_no_file_means_no_programmes_and_an_unreadable_one_is_refused(tmp_path):
    assert load_programmes(None, REGIONS).programmes == []
    with pytest.raises(InvalidInput, match="cannot read"):
        load_programmes(tmp_path / "missing.yaml", REGIONS)


@pytest.mark.parametrize(
    "start,months,end",
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),
        (date(2026, 12, 2), 12, date(2027, 12, 2)),
        (date(2026, 11, 30), 3, date(2027, 2, 28)),
    ],
)
def test_add_months(start, months, end):
    assert add_months(start, months) == end
