"""Drift: what Sahab granted vs the quota found on the cloud vs what is used."""

from __future__ import annotations

from typing import Any

from controlplane.domain.resources import Resource

QUOTA_CHANGED = "quota_changed"  # someone changed the quota outside Sahab
USAGE_ABOVE_QUOTA = "usage_above_quota"  # usage exceeds the cloud's quota (e.g. quota lowered under usage)
PROJECT_MISSING = "project_missing"  # the OpenStack project is gone
KINDS = (QUOTA_CHANGED, USAGE_ABOVE_QUOTA, PROJECT_MISSING)
_NAMES = tuple(r.value for r in Resource)  # once: this runs per project and collection


def find_drift(
    granted: dict[str, int], quota: dict[str, int] | None, used: dict[str, int] | None, *, missing: bool
) -> list[dict[str, Any]]:
    if missing:
        return [{"kind": PROJECT_MISSING, "resource": None, "granted": None, "quota": None, "used": None}]
    found: list[dict[str, Any]] = []
    quota, used = quota or {}, used or {}
    for name in _NAMES:
        want, seen, using = granted.get(name, 0), quota.get(name), used.get(name, 0)
        if seen is None:
            continue
        if seen != want:
            found.append({"kind": QUOTA_CHANGED, "resource": name, "granted": want, "quota": seen, "used": using})
        if seen >= 0 and using > seen:
            found.append({"kind": USAGE_ABOVE_QUOTA, "resource": name, "granted": want, "quota": seen, "used": using})
    return found
