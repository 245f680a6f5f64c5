"""The Containerfile (repo root), read as text: it parses into the three stages it promises with the
upstream bases as defaults of its base arguments, every path it copies exists and is not excluded by
.containerignore, the toolchain stage runs toolchain/ensure-pulumi, the runtime user is the chart's
UID, and the venv stage's command really builds Sahab from exactly the files that stage copies.
The image itself is built on local Debian bases and run in tests/image/test_image_real.py."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import yaml

from tests.support.helm import CHART, ROOT

CONTAINERFILE = ROOT / "Containerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(
        r"\\\n", " ", "\n".join(ln for ln in CONTAINERFILE.read_text().splitlines() if not ln.lstrip().startswith("#"))
    )
    out = []
    for line in text.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def stages() -> list[tuple[str, str | None, list[tuple[str, str]]]]:
    args = {k: v for i, a in instructions() if i == "ARG" and "=" in a for k, v in [a.split("=", 1)]}
    result: list[tuple[str, str | None, list[tuple[str, str]]]] = []
    for instruction, rest in instructions():
        if instruction == "FROM":
            words = rest.split()
            image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], words[0])
            result.append((image, words[2] if len(words) == 3 and words[1].upper() == "AS" else None, []))
        elif result:
            result[-1][2].append((instruction, rest))
    return result


def test_three_stages_from_the_promised_base_images() -> None:
    s = stages()
    assert [(image, name) for image, name, _ in s] == [
        ("docker.io/library/golang:1.26", "toolchain"),
        ("docker.io/library/python:3.11-slim", "venv"),
        ("docker.io/library/python:3.11-slim", None),
    ]
    known = {"RUN", "COPY", "ENV", "WORKDIR", "USER", "EXPOSE", "CMD", "ARG", "LABEL", "ENTRYPOINT"}
    assert all(i in known for _, _, body in s for i, _ in body)


def _ignored() -> list[str]:
    return [
        ln.strip()
        for ln in (ROOT / ".containerignore").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]


def test_every_copied_path_exists_and_is_in_the_build_context() -> None:
    ignored = _ignored()
    for _, _, body in stages():
        for instruction, rest in body:
            if instruction != "COPY" or rest.startswith("--from"):
                continue
            *sources, _dest = shlex.split(rest)
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: no such path"
                top = source.rstrip("/").split("/")[0]
                assert top not in ignored, f"COPY {source}: excluded by .containerignore"


def test_copy_from_names_existing_stages_and_outputs() -> None:
    s = stages()
    names = {name for _, name, _ in s if name}
    runtime = s[-1][2]
    froms = [rest for i, rest in runtime if i == "COPY" and rest.startswith("--from")]
    assert {f.split()[0].split("=", 1)[1] for f in froms} == names
    toolchain_run = " ".join(rest for i, rest in s[0][2] if i == "RUN")
    assert "toolchain/ensure-pulumi" in toolchain_run and "/out/pulumi-resource-openstack" in toolchain_run
    assert (ROOT / "toolchain" / "ensure-pulumi").stat().st_mode & 0o111
    assert any("/out/pulumi /out/pulumi-resource-openstack /usr/local/bin/" in f for f in froms)


def test_runtime_user_is_the_charts_uid() -> None:
    runtime = stages()[-1][2]
    users = [rest for i, rest in runtime if i == "USER"]
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    uid, gid = values["securityContext"]["runAsUser"], values["securityContext"]["runAsGroup"]
    assert users == [f"{uid}:{gid}"]
    run = " ".join(rest for i, rest in runtime if i == "RUN")
    assert f"--uid {uid}" in run and f"--gid {gid}" in run
    env = " ".join(rest for i, rest in runtime if i == "ENV")
    for setting in ("PULUMI_SKIP_UPDATE_CHECK=true", "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true"):
        assert setting in env


def test_the_venv_stage_builds_sahab_from_what_it_copies(tmp_path: Path) -> None:
    """Build Sahab's wheel (what the stage's `pip install --no-deps /src` builds) from a context made
    of only the files the stage COPYs to /src."""
    context = tmp_path / "src"
    context.mkdir()
    _, _, body = stages()[1]
    for instruction, rest in body:
        if instruction == "COPY":
            *sources, dest = shlex.split(rest)
            if dest.startswith("/") and dest != "/src":
                continue  # the wheelhouse
            for source in sources:
                src = ROOT / source
                if src.is_dir():
                    shutil.copytree(
                        src, context / source.rstrip("/"), ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
                    )
                else:
                    shutil.copy(src, context / source)
    runs = [rest for i, rest in body if i == "RUN"]
    assert any("--no-deps /src" in run for run in runs)
    assert any("pip uninstall --yes pip setuptools" in run for run in runs)  # the installer stays behind
    assert ("WORKDIR", "/src") in body
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-cache-dir",
            "--wheel-dir",
            str(tmp_path / "wheels"),
            str(context),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    [wheel] = (tmp_path / "wheels").glob("sahab-0.1.0-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "api/main.py",
        "api/server.py",
        "controlplane/settings.py",
        "controlplane/catalogue/demo-regions.yaml",
        "controlplane/persistence/migrations/env.py",
        "controlplane/tasks/liveness.py",
    ):
        assert needed in names, needed
    assert any(n.startswith("stacks/") for n in names)
    assert any(n.startswith("controlplane/persistence/migrations/versions/") and n.endswith(".py") for n in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "sahab-server = api.server:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
