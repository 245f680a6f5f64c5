"""Every legal and every illegal transition of the one request lifecycle."""

from __future__ import annotations

import itertools

import pytest

from controlplane.domain.states import TRANSITIONS, RequestState, check_transition
from controlplane.errors import InvalidTransition

S = RequestState
LEGAL = {
    (S.SUBMITTED, S.APPROVED),
    (S.SUBMITTED, S.REJECTED),
    (S.SUBMITTED, S.CANCELLED),
    (S.APPROVED, S.PROVISIONING),
    (S.PROVISIONING, S.ACTIVE),
    (S.PROVISIONING, S.FAILED),
    (S.FAILED, S.PROVISIONING),
    (S.ACTIVE, S.SUPERSEDED),
    (S.ACTIVE, S.DECOMMISSIONING),
    (S.DECOMMISSIONING, S.DECOMMISSIONED),
}
ALL_PAIRS = set(itertools.product(RequestState, RequestState))


def test_the_table_is_exactly_the_documented_lifecycle():
    assert {(a, b) for a, targets in TRANSITIONS.items() for b in targets} == LEGAL


@pytest.mark.parametrize("current,target", sorted(LEGAL))
def test_legal_transition_is_allowed(current, target):
    check_transition(current, target)


@pytest.mark.parametrize("current,target", sorted(ALL_PAIRS - LEGAL))
def test_illegal_transition_is_refused_with_the_allowed_targets(current, target):
    with pytest.raises(InvalidTransition) as refused:
        check_transition(current, target)
    assert f"cannot go from {current} to {target}" in refused.value.detail
    assert refused.value.extra == {"current": current.value, "target": target.value}
