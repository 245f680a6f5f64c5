"""Helpers of the end-to-end tests: the Pulumi toolchain, the devcloud's clouds.yaml, and waiting
for a request over the API."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import devcloud
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
CLOUD = "sahab-devcloud"


def toolchain_path() -> str:
    result = subprocess.run([str(ROOT / "toolchain" / "ensure-pulumi")], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail(f"the Pulumi toolchain is not available: {result.stderr[-2000:]}", pytrace=False)
    return result.stdout.strip()


def clouds_yaml() -> str:
    path = devcloud.clouds_yaml()
    if not path.is_file():
        pytest.fail(
            f"the local OpenStack is not set up ({path} missing): run devcloud/sahab-devcloud up", pytrace=False
        )
    return str(path)


def wait_for(
    api: httpx.Client, headers: dict[str, str], request_id: str, states: set[str], timeout: float
) -> dict[str, Any]:
    """The request once it is in one of `states` (polled once a second over the API)."""

    last: dict[str, Any] = {}

    def reached() -> dict[str, Any] | None:
        response = api.get(f"/v1/quota-requests/{request_id}", headers=headers)
        assert response.status_code == 200, f"polling {request_id}: {response.status_code} {response.text}"
        last.update(response.json())
        return dict(last) if last["state"] in states else None

    try:
        return wait_until(reached, timeout, f"request {request_id} reaching {sorted(states)}", interval=1)
    except AssertionError as late:
        raise AssertionError(f"{late}; last: {last}") from None
