"""The chart installed for real: `helm install`, `upgrade` and `uninstall` against a real
kube-apiserver (built from Go modules by kube/ensure-apiserver) on Debian's etcd, with the
prometheus-operator CRDs (ServiceMonitor, PodMonitor, PrometheusRule) from its Go module.

Production-like values (production + ingress/monitoring CI values), with the Secrets an operator
creates first (helm/README.md). The server admits and stores every object; there is no
controller-manager, scheduler or kubelet, so no pod ever runs: the migration hook Job is shown to
be created by helm and admitted, and to gate the Deployments, but it never completes here.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.helm import CHART, Tools
from tests.support.kubeapi import KubeApiServer, ensure_apiserver

PRODUCTION = CHART / "ci" / "production-values.yaml"
MONITORING = CHART / "ci" / "ingress-monitoring-values.yaml"
RELEASE = "sahab"

# What an operator creates before installing (helm/README.md, "Secrets to create first"), with
# placeholder values: nothing here runs, the API server only stores them.
OPERATOR_SECRETS: dict[str, tuple[str, dict[str, str]]] = {
    "sahab-postgresql": ("Opaque", {"database-url": "postgresql://sahab:x@postgres.db.svc:5432/sahab"}),
    "sahab-rabbitmq": (
        "Opaque",
        {
            "broker-url": "amqp://sahab:x@rabbitmq.mq.svc:5672/sahab",
            "management-url": "http://monitor:x@rabbitmq.mq.svc:15672",
        },
    ),
    "sahab-pulumi": (
        "Opaque",
        {"backend-url": "postgres://pulumi:x@postgres.db.svc:5432/pulumi_state", "passphrase": "placeholder"},
    ),
    "sahab-pulumi-s3-credentials": ("Opaque", {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}),
    "sahab-credentials-keys": ("Opaque", {"credentials-keys": '["placeholder"]'}),
    "sahab-oidc": ("Opaque", {"issuer": "https://keycloak.example.org/realms/sahab", "audience": "sahab"}),
    "sahab-clouds": ("Opaque", {"clouds.yaml": "clouds: {}\n"}),
    "sahab-tls": ("kubernetes.io/tls", {"tls.crt": "placeholder", "tls.key": "placeholder"}),
}
# The chart's objects with these values (the hook Job apart), by kind.
EXPECTED = {
    "Deployment": {"sahab-api", "sahab-worker", "sahab-beat"},
    "Service": {"sahab"},
    "ConfigMap": {"sahab-catalogue"},
    "Ingress": {"sahab"},
    "ServiceMonitor": {"sahab"},
    "PodMonitor": {"sahab-worker"},
    "PrometheusRule": {"sahab"},
}


@pytest.fixture(scope="module")
def cluster() -> Iterator[KubeApiServer]:
    server = KubeApiServer().start()
    try:
        server.install_crds(Path(ensure_apiserver("--crds")))
        yield server
    finally:
        server.stop()


class Helm:
    """The pinned helm, pointed at the test API server, with its own config and cache dirs."""

    def __init__(self, tools: Tools, cluster: KubeApiServer, namespace: str) -> None:
        self.tools, self.namespace = tools, namespace
        home = cluster.base / "helm"
        self.env = {
            **os.environ,
            "KUBECONFIG": str(cluster.kubeconfig),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_DATA_HOME": str(home / "data"),
        }

    def __call__(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.tools.helm, *args, "--namespace", self.namespace],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
        )

    def ok(self, *args: str) -> str:
        result = self(*args)
        assert result.returncode == 0, f"helm {' '.join(args)} failed:\n{result.stderr}"
        return result.stdout

    def manifest(self) -> list[dict[str, Any]]:
        return [d for d in yaml.safe_load_all(self.ok("get", "manifest", RELEASE)) if d]


def _namespace(cluster: KubeApiServer, with_secrets: bool = True) -> str:
    name = f"sahab-{uuid.uuid4().hex[:8]}"
    response = cluster.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    assert response.status_code == 201, response.text
    if with_secrets:
        for secret, (kind, data) in OPERATOR_SECRETS.items():
            response = cluster.create(
                {"apiVersion": "v1", "kind": "Secret", "type": kind, "metadata": {"name": secret}, "stringData": data},
                name,
            )
            assert response.status_code == 201, response.text
    return name


def _values() -> list[str]:
    return ["-f", str(PRODUCTION), "-f", str(MONITORING)]


def _is_subset(rendered: Any, stored: Any, path: str = "") -> list[str]:
    """Where `rendered` is not found in `stored` (the server adds defaults; it must drop or change nothing)."""
    if isinstance(rendered, dict):
        if not isinstance(stored, dict):
            return [f"{path}: {stored!r} is not an object"]
        return [
            m
            for k, v in rendered.items()
            for m in (_is_subset(v, stored[k], f"{path}.{k}") if k in stored else [f"{path}.{k}: dropped"])
        ]
    if isinstance(rendered, list):
        if not isinstance(stored, list) or len(stored) != len(rendered):
            return [f"{path}: {stored!r} != {rendered!r}"]
        return [
            m for i, (r, s) in enumerate(zip(rendered, stored, strict=False)) for m in _is_subset(r, s, f"{path}[{i}]")
        ]
    return [] if rendered == stored or str(rendered) == str(stored) else [f"{path}: {stored!r} != {rendered!r}"]


def _secret_references(pod_spec: dict[str, Any]) -> set[tuple[str, str | None]]:
    """(Secret name, key or None for a whole Secret) for every Secret a pod template reads."""
    refs: set[tuple[str, str | None]] = set()
    for container in pod_spec.get("initContainers", []) + pod_spec["containers"]:
        for env in container.get("env", []):
            if ref := env.get("valueFrom", {}).get("secretKeyRef"):
                refs.add((ref["name"], ref["key"]))
        for source in container.get("envFrom", []):
            if ref := source.get("secretRef"):
                refs.add((ref["name"], None))
    for volume in pod_spec.get("volumes", []):
        if secret := volume.get("secret"):
            keys = [item["key"] for item in secret.get("items", [])] or [None]
            refs.update((secret["secretName"], key) for key in keys)
    return refs


def _assert_secrets_exist(cluster: KubeApiServer, namespace: str, pod_spec: dict[str, Any], what: str) -> None:
    refs = _secret_references(pod_spec)
    assert refs, f"{what} reads no Secret"
    for name, key in sorted(refs, key=str):
        response = cluster.get("v1", "Secret", name, namespace)
        assert response.status_code == 200, f"{what} reads Secret {name}, which does not exist"
        if key is not None:
            assert key in response.json()["data"], f"{what} reads key {key} of Secret {name}, which it lacks"


def test_install_admits_every_object_with_the_secrets_it_references(tools: Tools, cluster: KubeApiServer) -> None:
    namespace = _namespace(cluster)
    helm = Helm(tools, cluster, namespace)
    # --no-hooks: the pre-install migration Job would wait for a kubelet forever here
    # (test_the_migration_hook_job_is_created_first_and_gates_the_deployments shows it admitted).
    helm.ok("install", RELEASE, str(CHART), *_values(), "--no-hooks", "--timeout", "60s")

    status = json.loads(helm.ok("status", RELEASE, "-o", "json"))
    assert (status["info"]["status"], status["version"]) == ("deployed", 1)
    manifest = helm.manifest()
    assert {kind: {d["metadata"]["name"] for d in manifest if d["kind"] == kind} for kind in EXPECTED} == EXPECTED
    assert {d["kind"] for d in manifest} == set(EXPECTED), "an object of an unexpected kind"
    for rendered in manifest:
        what = f"{rendered['kind']} {rendered['metadata']['name']}"
        response = cluster.get(rendered["apiVersion"], rendered["kind"], rendered["metadata"]["name"], namespace)
        assert response.status_code == 200, f"{what} is not on the API server: {response.text}"
        stored = response.json()
        assert stored["metadata"]["annotations"]["meta.helm.sh/release-name"] == RELEASE
        # Stored as rendered: no field was pruned (CRD schemas drop unknown fields silently) or changed.
        assert _is_subset({k: v for k, v in rendered.items() if k != "metadata"}, stored) == [], what
        if rendered["kind"] == "Deployment":
            _assert_secrets_exist(cluster, namespace, stored["spec"]["template"]["spec"], what)
    ingress = cluster.get("networking.k8s.io/v1", "Ingress", RELEASE, namespace).json()
    assert cluster.get("v1", "Secret", ingress["spec"]["tls"][0]["secretName"], namespace).status_code == 200
    # No controller-manager or kubelet: nothing was scheduled from the Deployments.
    assert cluster.list("v1", "Pod", namespace) == []


def test_the_migration_hook_job_is_created_first_and_gates_the_deployments(
    tools: Tools, cluster: KubeApiServer
) -> None:
    namespace = _namespace(cluster)
    helm = Helm(tools, cluster, namespace)
    # With hooks: helm creates the Job, then waits for it to complete, which needs a kubelet.
    result = helm("install", RELEASE, str(CHART), *_values(), "--timeout", "8s")
    assert result.returncode != 0
    assert "failed pre-install" in result.stderr and "timed out waiting for the condition" in result.stderr, (
        result.stderr
    )

    job = cluster.get("batch/v1", "Job", "sahab-migrate", namespace)
    assert job.status_code == 200, "helm's pre-install hook Job was not admitted"
    job = job.json()
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    hooks = [d for d in yaml.safe_load_all(helm.ok("get", "hooks", RELEASE)) if d]
    assert [h["metadata"]["name"] for h in hooks] == ["sahab-migrate"]
    assert _is_subset(hooks[0]["spec"], job["spec"]) == [], "the Job was not stored as rendered"
    pod = job["spec"]["template"]["spec"]
    assert pod["containers"][0]["args"] == ["sahab-server", "migrate"]
    assert pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
    _assert_secrets_exist(cluster, namespace, pod, "Job sahab-migrate")
    # The schema is migrated before any Deployment exists; with the hook failed, none was created.
    assert cluster.list("apps/v1", "Deployment", namespace) == []
    assert json.loads(helm.ok("status", RELEASE, "-o", "json"))["info"]["status"] == "failed"
    helm.ok("uninstall", RELEASE, "--no-hooks")


def test_upgrade_changes_the_deployments_and_uninstall_removes_every_object(
    tools: Tools, cluster: KubeApiServer
) -> None:
    namespace = _namespace(cluster)
    helm = Helm(tools, cluster, namespace)
    helm.ok("install", RELEASE, str(CHART), *_values(), "--no-hooks")
    before = cluster.get("apps/v1", "Deployment", "sahab-worker", namespace).json()
    api_before = cluster.get("apps/v1", "Deployment", "sahab-api", namespace).json()

    helm.ok(
        "upgrade",
        RELEASE,
        str(CHART),
        *_values(),
        "--no-hooks",
        "--set",
        "worker.replicas=7",
        "--set",
        "api.uvicornWorkers=5",
    )
    status = json.loads(helm.ok("status", RELEASE, "-o", "json"))
    assert (status["info"]["status"], status["version"]) == ("deployed", 2)
    history = json.loads(helm.ok("history", RELEASE, "-o", "json"))
    assert [(h["revision"], h["status"]) for h in history] == [(1, "superseded"), (2, "deployed")]
    worker = cluster.get("apps/v1", "Deployment", "sahab-worker", namespace).json()
    assert (before["spec"]["replicas"], worker["spec"]["replicas"]) == (4, 7)
    assert worker["metadata"]["uid"] == before["metadata"]["uid"], "the Deployment was replaced, not updated"
    assert worker["metadata"]["generation"] == before["metadata"]["generation"] + 1
    api = cluster.get("apps/v1", "Deployment", "sahab-api", namespace).json()
    args = api["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--workers") + 1] == "5"
    assert api["metadata"]["generation"] == api_before["metadata"]["generation"] + 1

    manifest = helm.manifest()
    helm.ok("uninstall", RELEASE, "--no-hooks", "--wait", "--timeout", "60s")
    for rendered in manifest:
        response = cluster.get(rendered["apiVersion"], rendered["kind"], rendered["metadata"]["name"], namespace)
        assert response.status_code == 404, f"{rendered['kind']} {rendered['metadata']['name']} outlived uninstall"
    assert helm("status", RELEASE).returncode != 0
    # The operator's Secrets are not the chart's: uninstall leaves them.
    assert {s["metadata"]["name"] for s in cluster.list("v1", "Secret", namespace)} == set(OPERATOR_SECRETS)


@pytest.mark.parametrize(
    "bad",
    [
        ("--set", "worker.replicas=-1"),  # below the schema's minimum
        ("--set", "api.replica=3"),  # unknown key (additionalProperties: false)
        ("--set-string", "worker.concurrency=two"),  # wrong type
        ("--set", "secrets.database.name="),  # production without a database Secret
    ],
)
def test_values_that_break_the_schema_are_refused_and_nothing_is_created(
    tools: Tools, cluster: KubeApiServer, bad: tuple[str, str]
) -> None:
    namespace = _namespace(cluster, with_secrets=False)
    helm = Helm(tools, cluster, namespace)
    result = helm("install", RELEASE, str(CHART), *_values(), *bad)
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr, result.stderr
    assert helm("status", RELEASE).returncode != 0
    for api_version, kind in [
        ("v1", "Secret"),
        ("apps/v1", "Deployment"),
        ("batch/v1", "Job"),
        ("v1", "ConfigMap"),
        ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ]:
        assert cluster.list(api_version, kind, namespace) == [], kind
