"""Monitoring tests use the real Prometheus tools (Debian package `prometheus`: prometheus and
promtool). When they are missing the tests FAIL with the install hint; they never skip."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from controlplane.settings import Settings

MONITORING = Path(__file__).resolve().parents[2] / "monitoring"
HINT = "install it with `apt-get install -y --no-install-recommends prometheus` (provides prometheus and promtool)"


def tool(name: str) -> str:
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if path is None:
        pytest.fail(f"{name} is not installed: {HINT}", pytrace=False)
    return path


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


def lint_problems(promtool: str, payload: bytes) -> list[str]:
    """promtool check metrics reads the exposition on stdin and prints one problem a line (exit 3 on lint)."""
    import subprocess

    result = subprocess.run([promtool, "check", "metrics"], input=payload, capture_output=True, timeout=60)
    lines = [line for line in (result.stdout + result.stderr).decode().splitlines() if line.strip()]
    if result.returncode not in (0, 3):
        raise AssertionError(f"promtool check metrics failed to run ({result.returncode}): {lines}")
    return lines
