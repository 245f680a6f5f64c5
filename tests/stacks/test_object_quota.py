"""The Swift account-quota dynamic provider's own logic, against a fake account (no engine, no cloud)."""

from __future__ import annotations

import pytest

import stacks.object_quota as oq

GIB = oq.GIB


@pytest.fixture
def account(monkeypatch):
    state = {"quota_bytes": -1, "bytes": 0, "objects": 0, "containers": 0, "exists": True}

    def set_quota(cloud, region, project_id, quota_gib):
        state["quota_bytes"] = quota_gib * GIB
        return "http://swift.example:8890"

    def read_account(cloud, region, project_id):
        return {k: v for k, v in state.items() if k != "exists"} if state["exists"] else None

    monkeypatch.setattr(oq, "set_quota", set_quota)
    monkeypatch.setattr(oq, "read_account", read_account)
    return state


PROPS = {"cloud": "c", "region": "RegionOne", "project_id": "p1", "quota_gib": 5, "endpoint": None}


def test_create_update_delete_set_the_quota(account):
    provider = oq.AccountQuotaProvider()
    created = provider.create(dict(PROPS))
    assert created.id == "AUTH_p1" and account["quota_bytes"] == 5 * GIB
    assert created.outs["endpoint"] == "http://swift.example:8890"
    provider.update("AUTH_p1", PROPS, {**PROPS, "quota_gib": 9})
    assert account["quota_bytes"] == 9 * GIB
    provider.delete("AUTH_p1", PROPS)
    assert account["quota_bytes"] == 0


def test_diff_replaces_only_for_another_project():
    provider = oq.AccountQuotaProvider()
    assert not provider.diff("AUTH_p1", PROPS, dict(PROPS)).changes
    grown = provider.diff("AUTH_p1", PROPS, {**PROPS, "quota_gib": 6})
    assert grown.changes and not grown.replaces
    assert provider.diff("AUTH_p1", PROPS, {**PROPS, "project_id": "p2"}).replaces == ["project_id"]


def test_read_reports_drift_and_a_missing_account(account):
    provider = oq.AccountQuotaProvider()
    account["quota_bytes"] = 3 * GIB
    assert provider.read("AUTH_p1", PROPS).outs["quota_gib"] == 3
    account["quota_bytes"] = 12345  # set by hand, not whole GiB: drift all the same
    assert provider.read("AUTH_p1", PROPS).outs["quota_gib"] == -1
    account["exists"] = False
    assert provider.read("AUTH_p1", PROPS).id is None
