"""Sahab's image run with podman the way the Helm chart runs it: each container's command, args,
environment, user, read-only root and writable paths are taken from the chart's own render, and
translated to `podman run` flags (emptyDir -> tmpfs, ConfigMap/Secret -> a read-only bind mount,
secretKeyRef -> the value the test gives for that variable). podman runs containers with runc and
explicit ulimits: crun fails on this machine kind (see image/build)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "sahab"


def podman() -> list[str]:
    runc = shutil.which("runc") or "/usr/sbin/runc"
    if shutil.which("podman") is None or not Path(runc).exists():
        pytest.fail(
            "podman and runc are not installed (apt-get install podman buildah runc debootstrap; ./dev test does it)",
            pytrace=False,
        )
    return ["podman", "--runtime", runc]


LIMITS = ["--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"]


def build_image() -> str:
    """image/build (cached): the image reference, or the test fails with the build's own words."""
    env = {**os.environ, "PYTHON": os.environ.get("PYTHON", sys.executable)}
    result = subprocess.run([str(ROOT / "image" / "build")], capture_output=True, text=True, env=env, timeout=3600)
    if result.returncode != 0:
        pytest.fail(f"image/build failed (exit {result.returncode}):\n{result.stderr[-4000:]}", pytrace=False)
    return result.stdout.strip().splitlines()[-1]


def in_image(image: str, *command: str) -> str:
    """Run a command in a throwaway container of the image (as root, to read every file)."""
    result = subprocess.run(
        [*podman(), "run", "--rm", *LIMITS, "--network", "none", "--user", "0:0", "--entrypoint", "", image, *command],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"{command}: exit {result.returncode}\n{result.stderr[-2000:]}"
    return result.stdout


def render_chart(helm: str, values: dict[str, Any], tmp: Path) -> list[dict[str, Any]]:
    path = tmp / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    result = subprocess.run(
        [helm, "template", "sahab", str(CHART), "-f", str(path)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


@dataclass
class ChartContainer:
    """One Deployment's container, as podman will run it."""

    component: str
    pod: dict[str, Any]
    container: dict[str, Any]
    env: dict[str, str] = field(default_factory=dict)

    @property
    def liveness(self) -> list[str]:
        return list(self.container["livenessProbe"]["exec"]["command"])


def chart_containers(docs: list[dict[str, Any]], secrets: dict[str, str]) -> dict[str, ChartContainer]:
    """Each Deployment's and Job's (first) container by component, its env resolved: `secrets` gives
    the value of every variable the chart takes from a Secret (by variable name)."""
    found = {}
    for doc in docs:
        if doc["kind"] not in ("Deployment", "Job"):
            continue
        component = doc["metadata"]["labels"]["app.kubernetes.io/component"]
        pod = doc["spec"]["template"]["spec"]
        container = pod["containers"][0]
        env: dict[str, str] = {}
        for item in container.get("env", []):
            source = item.get("valueFrom", {})
            if "value" in item:
                env[item["name"]] = str(item["value"])
            elif "fieldRef" in source:
                assert source["fieldRef"]["fieldPath"] == "metadata.name"
                env[item["name"]] = f"sahab-{component}-0"
            else:
                env[item["name"]] = secrets[item["name"]]
        found[component] = ChartContainer(component, pod, container, env)
    return found


def _expand(arg: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion of command and args."""
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m[1], m[0]), arg)


def run_args(
    spec: ChartContainer, image: str, name: str, volume_dirs: dict[str, Path], detach: bool = True
) -> list[str]:
    """`podman run` arguments for the chart's container: `volume_dirs` gives a host directory for each
    ConfigMap/Secret volume (mounted read-only); every emptyDir becomes a tmpfs."""
    security = {**spec.pod.get("securityContext", {}), **spec.container["securityContext"]}
    args = [
        "run",
        "--detach" if detach else "--rm",
        "--name",
        name,
        *LIMITS,
        "--network",
        "host",
        "--user",
        f"{security['runAsUser']}:{security['runAsGroup']}",
    ]
    if security.get("readOnlyRootFilesystem"):
        args += ["--read-only", "--read-only-tmpfs=false"]  # only the chart's writable paths, no extra tmpfs
    if security.get("allowPrivilegeEscalation") is False:
        args += ["--security-opt", "no-new-privileges"]
    args += [f"--cap-drop={c}" for c in security.get("capabilities", {}).get("drop", [])]
    volumes = {v["name"]: v for v in spec.pod["volumes"]}
    for mount in spec.container["volumeMounts"]:
        volume = volumes[mount["name"]]
        if "emptyDir" in volume:
            # U: owned by the container's user, as the pod's fsGroup makes an emptyDir writable to it
            args += ["--tmpfs", f"{mount['mountPath']}:rw,U"]
        else:
            assert mount.get("readOnly"), mount
            args += ["--volume", f"{volume_dirs[mount['name']]}:{mount['mountPath']}:ro"]
    for key, value in spec.env.items():
        args += ["--env", f"{key}={value}"]
    command = [_expand(a, spec.env) for a in spec.container.get("command", [])]
    if command:
        args += ["--entrypoint", command[0]]
    return [*args, image, *command[1:], *(_expand(a, spec.env) for a in spec.container.get("args", []))]


def logs(name: str) -> str:
    result = subprocess.run([*podman(), "logs", name], capture_output=True, text=True, timeout=60)
    return (result.stdout + result.stderr)[-6000:]


def remove(*names: str) -> None:
    """Stop and remove the containers (names never started are ignored); a failure fails the test."""
    result = subprocess.run(
        [*podman(), "rm", "--force", "--ignore", "--time", "20", *names], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"podman rm {names}: {result.stderr}"
