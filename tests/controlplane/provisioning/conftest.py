from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def toolchain_on_path():
    result = subprocess.run([str(ROOT / "toolchain" / "ensure-pulumi")], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail(f"the Pulumi toolchain is not available: {result.stderr[-2000:]}", pytrace=False)
    previous = os.environ["PATH"]
    os.environ["PATH"] = f"{result.stdout.strip()}{os.pathsep}{previous}"
    os.environ.update(PULUMI_SKIP_UPDATE_CHECK="true", PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true")
    yield
    os.environ["PATH"] = previous
