"""The Helm chart and the pinned helm and kubeconform from helm/ensure-tools (built from Go modules
when missing; a failure FAILS the tests, never skips them)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "sahab"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))


def ensure_tools(*args: str) -> str:
    # PYTHON: the interpreter whose pip installs the schema package (the venv's has pip).
    env = {**os.environ, "PYTHON": os.environ.get("PYTHON", sys.executable)}
    result = subprocess.run([str(ROOT / "helm" / "ensure-tools"), *args], capture_output=True, text=True, env=env)
    if result.returncode != 0:
        pytest.fail(
            f"helm/ensure-tools {' '.join(args)} failed (exit {result.returncode}):\n{result.stderr[-3000:]}",
            pytrace=False,
        )
    return result.stdout.strip()


@dataclass
class Tools:
    bin: Path
    schemas: Path
    kubernetes_version: str

    @property
    def helm(self) -> str:
        return str(self.bin / "helm")

    @property
    def kubeconform(self) -> str:
        return str(self.bin / "kubeconform")

    def run_helm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([self.helm, *args], capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            pytest.fail(f"helm {' '.join(args)} failed:\n{result.stderr}", pytrace=False)
        return result

    def template(
        self, *values: Path | str, sets: tuple[str, ...] = (), check: bool = True, extra: tuple[str, ...] = ()
    ) -> subprocess.CompletedProcess[str]:
        args = ["template", "sahab", str(CHART), "--namespace", "sahab", *extra]
        for v in values:
            args += ["-f", str(v)]
        for s in sets:
            args += ["--set", s]
        return self.run_helm(*args, check=check)

    def render(self, *values: Path | str, sets: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        return [d for d in yaml.safe_load_all(self.template(*values, sets=sets).stdout) if d]


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def pod_specs(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every pod template of the render, by workload name."""
    return {d["metadata"]["name"]: d["spec"]["template"]["spec"] for d in docs if d["kind"] in ("Deployment", "Job")}
