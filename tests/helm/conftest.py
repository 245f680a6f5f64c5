"""Fixtures of the Helm chart tests (their helpers are in tests/support/helm.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.helm import Tools, ensure_tools


@pytest.fixture(scope="session")
def tools() -> Tools:
    return Tools(Path(ensure_tools()), Path(ensure_tools("--schemas")), ensure_tools("--kubernetes-version"))
