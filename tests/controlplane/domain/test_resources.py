"""The one set of rules for resource names and amounts (the request schema uses the same)."""

from __future__ import annotations

import pytest

from controlplane.domain.resources import AMOUNT_MAX, Resource, amounts, check_within, some_amounts
from controlplane.errors import InvalidInput
from controlplane.quota_requests.schemas import QuotaRequestCreate


@pytest.mark.parametrize(
    "value,message",
    [
        (-1, "vcpus: amounts must be >= 0"),
        (AMOUNT_MAX + 1, f"vcpus: amounts must be <= {AMOUNT_MAX}"),
        (10**100, f"vcpus: amounts must be <= {AMOUNT_MAX}"),
        (True, "vcpus must be a whole number"),
        (1.5, "vcpus must be a whole number"),
    ],
)
def test_bad_amounts_are_refused_in_the_domain_and_the_schema_alike(value, message):
    with pytest.raises(InvalidInput, match=message):
        some_amounts({"vcpus": value})
    with pytest.raises(ValueError, match=message):
        QuotaRequestCreate(
            organisation_id="org_x",
            region="rabat-1",
            environment="prod",
            justification="needed",
            amounts={"vcpus": value},
        )


def test_unknown_names_are_refused_in_the_domain_and_the_schema_alike():
    with pytest.raises(InvalidInput, match="unknown resource"):
        amounts({"gpus": 1})
    with pytest.raises(ValueError, match="unknown resource"):
        QuotaRequestCreate(
            organisation_id="org_x", region="rabat-1", environment="prod", justification="needed", amounts={"gpus": 1}
        )


def test_the_largest_amount_is_accepted():
    assert amounts({"ram_mib": AMOUNT_MAX})[Resource.RAM_MIB] == AMOUNT_MAX


def test_check_within_names_each_resource_and_its_bound():
    bound = amounts({"vcpus": 8, "ram_mib": 1024})
    check_within(amounts({"vcpus": 8}), bound, "the test region")
    with pytest.raises(InvalidInput) as raised:
        check_within(amounts({"vcpus": 9, "ram_mib": 2048}), bound, "the test region")
    assert (
        "vcpus requested 9, at most 8" in raised.value.detail
        and "ram_mib requested 2048, at most 1024" in raised.value.detail
    )
    assert raised.value.extra["bounds"] == [
        {"resource": "vcpus", "requested": 9, "max": 8},
        {"resource": "ram_mib", "requested": 2048, "max": 1024},
    ]
