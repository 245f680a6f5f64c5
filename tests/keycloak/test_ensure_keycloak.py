"""keycloak/ensure-keycloak's choice of Java: the newest JDK of at least 21, or a clear failure."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.support.keycloak import ROOT

ENSURE = ROOT / "keycloak" / "ensure-keycloak"


def fake_jdk(root: Path, name: str, version: int) -> Path:
    """A directory shaped like a JDK whose java reports `version` as `java -XshowSettings:properties` does."""
    java = root / name / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text(f"#!/bin/sh\necho '    java.specification.version = {version}' >&2\n")
    java.chmod(0o755)
    return root / name


def find_java(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"JAVA_HOME", "SAHAB_KEYCLOAK_JAVA_HOME"}}
    return subprocess.run(
        [str(ENSURE), "--java"],
        env={**env, "SAHAB_KEYCLOAK_JDK_SEARCH": f"{tmp_path}/*"},
        text=True,
        capture_output=True,
        timeout=60,
    )


def test_the_newest_jdk_of_at_least_21_is_chosen(tmp_path: Path) -> None:
    fake_jdk(tmp_path, "openjdk-17", 17)
    fake_jdk(tmp_path, "temurin-21", 21)
    newest = fake_jdk(tmp_path, "temurin-25", 25)

    found = find_java(tmp_path)

    assert found.returncode == 0, found.stderr
    assert found.stdout.strip() == str(newest)


def test_without_java_21_it_fails_naming_what_it_looked_at(tmp_path: Path) -> None:
    old = fake_jdk(tmp_path, "openjdk-17", 17)

    found = find_java(tmp_path)

    assert found.returncode == 1 and found.stdout == ""
    assert "no Java 21 or newer found" in found.stderr and f"{old} (17)" in found.stderr
