"""Fixtures of the monitoring tests (their helpers are in tests/support/prometheus.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.settings import Settings


@pytest.fixture
def settings(database_url: str, issuer, tmp_path: Path) -> Settings:
    """As the suite's settings, with the opt-in per-project series on."""
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        oidc_issuer=issuer.url,
        broker_url="memory://",
        demo_accounts=False,
        metrics_per_project=True,
    )
