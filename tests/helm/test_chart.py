"""The Helm chart (helm/sahab): lint, render and validate every CI values file against the
Kubernetes JSON schemas (kubeconform, offline), and check what the chart promises: secrets are
references only, API and workers share one configuration, one beat, the migration hook, non-root
pods with a read-only root filesystem, and no production install without external services."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from controlplane.billing.prices import load_price_list
from controlplane.domain.regions import load_catalogue
from controlplane.programmes.catalogue import load_programmes
from controlplane.settings import Settings
from tests.support.helm import CHART, CI_VALUES, ROOT, Tools, by_kind, pod_specs

PRODUCTION = CHART / "ci" / "production-values.yaml"
EMBEDDED = CHART / "ci" / "minimal-embedded-values.yaml"
MONITORING = CHART / "ci" / "ingress-monitoring-values.yaml"
CRD_KINDS = {"ServiceMonitor", "PodMonitor", "PrometheusRule"}
PROGRAMMES = CHART / "ci" / "programmes-values.yaml"
SECRET_SETTINGS = {
    "SAHAB_DATABASE_URL",
    "SAHAB_BROKER_URL",
    "SAHAB_PULUMI_BACKEND_URL",
    "SAHAB_PULUMI_PASSPHRASE",
    "SAHAB_OIDC_ISSUER",
    "SAHAB_OIDC_AUDIENCE",
    "SAHAB_SMTP_PASSWORD",
}
ids = [p.name.removesuffix("-values.yaml") for p in CI_VALUES]


def test_the_ci_values_matrix_is_complete() -> None:
    assert {p.name for p in CI_VALUES} >= {PRODUCTION.name, EMBEDDED.name, MONITORING.name}


def test_chart_metadata() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert (chart["apiVersion"], chart["name"], chart["version"], chart["appVersion"]) == (
        "v2",
        "sahab",
        "0.1.0",
        "0.1.0",
    )


@pytest.mark.parametrize("values", CI_VALUES, ids=ids)
def test_helm_lint(tools: Tools, values: Path) -> None:
    result = tools.run_helm("lint", "--strict", str(CHART), "-f", str(values), check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("values", CI_VALUES, ids=ids)
def test_rendered_manifests_are_valid_kubernetes(tools: Tools, values: Path, tmp_path: Path) -> None:
    rendered = tools.template(values).stdout
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    (tmp_path / "all.yaml").write_text(rendered)
    result = subprocess.run(
        [
            tools.kubeconform,
            "-strict",
            "-summary",
            "-output",
            "json",
            "-kubernetes-version",
            tools.kubernetes_version,
            "-schema-location",
            str(tools.schemas)
            + "/{{ .NormalizedKubernetesVersion }}-local{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json",
            "-skip",
            ",".join(sorted(CRD_KINDS)),
            str(tmp_path / "all.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = json.loads(result.stdout)
    assert result.returncode == 0, json.dumps(report["resources"], indent=1) + result.stderr
    # Every built-in resource was validated (a missing schema would be an error, never a silent skip).
    builtin = [d for d in docs if d["kind"] not in CRD_KINDS]
    assert report["summary"]["valid"] == len(builtin) > 0, report
    assert report["summary"]["skipped"] == len(docs) - len(builtin), report


def test_kubeconform_really_rejects_bad_manifests(tools: Tools, tmp_path: Path) -> None:
    """The offline schemas are found and strict: unknown fields and wrong types are errors."""
    bad = tools.template(PRODUCTION).stdout.replace(
        "automountServiceAccountToken: false", "automountServiceAccountToken: false\n      restartPolicyy: Always", 1
    )
    (tmp_path / "bad.yaml").write_text(bad)
    result = subprocess.run(
        [
            tools.kubeconform,
            "-strict",
            "-summary",
            "-kubernetes-version",
            tools.kubernetes_version,
            "-schema-location",
            str(tools.schemas)
            + "/{{ .NormalizedKubernetesVersion }}-local{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json",
            str(tmp_path / "bad.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "additional properties 'restartPolicyy' not allowed" in result.stdout


def test_crds_are_structurally_right(tools: Tools) -> None:
    docs = tools.render(MONITORING)
    monitor = next(iter(by_kind(docs, "ServiceMonitor").values()))
    rule = next(iter(by_kind(docs, "PrometheusRule").values()))
    service = next(iter(by_kind(docs, "Service").values()))
    assert monitor["apiVersion"] == rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert set(monitor["spec"]) == {"selector", "namespaceSelector", "endpoints"}
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items(), "the ServiceMonitor must select the Service"
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]} and endpoint["path"] == "/metrics"
    assert re.fullmatch(r"\d+[smh]", endpoint["interval"]) and re.fullmatch(r"\d+[smh]", endpoint["scrapeTimeout"])
    pod_monitor = next(iter(by_kind(docs, "PodMonitor").values()))
    worker = next(d for d in by_kind(docs, "Deployment").values() if d["metadata"]["name"].endswith("-worker"))
    assert (
        pod_monitor["spec"]["selector"]["matchLabels"].items()
        <= worker["spec"]["template"]["metadata"]["labels"].items()
    )
    [pod_endpoint] = pod_monitor["spec"]["podMetricsEndpoints"]
    [container] = worker["spec"]["template"]["spec"]["containers"]
    assert pod_endpoint["port"] in {p["name"] for p in container["ports"]}
    assert "--metrics-port" in container["args"]
    assert monitor["metadata"]["labels"]["release"] == rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert set(rule["spec"]) == {"groups"} and rule["spec"]["groups"]
    for group in rule["spec"]["groups"]:
        assert set(group) <= {"name", "interval", "rules", "limit"} and group["name"] and group["rules"]
        for r in group["rules"]:
            assert set(r) <= {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}, r
            assert isinstance(r["expr"], str) and r["expr"].strip() and ("alert" in r) != ("record" in r)
            assert all(isinstance(v, str) for v in {**r.get("labels", {}), **r.get("annotations", {})}.values())


def _rule_groups(path: Path) -> list[dict[str, Any]]:
    return yaml.safe_load(path.read_text())["groups"]


def test_chart_alert_rules_match_monitoring(tools: Tools) -> None:
    """helm/sahab/files/alerts.yaml is a copy of monitoring/prometheus/alerts.yaml (the chart can
    only read files inside itself); the PrometheusRule carries exactly those rules."""
    ours = _rule_groups(CHART / "files" / "alerts.yaml")
    upstream = ROOT / "monitoring" / "prometheus" / "alerts.yaml"
    assert ours == _rule_groups(upstream), (
        "helm/sahab/files/alerts.yaml differs from monitoring/prometheus/alerts.yaml: cp the latter over the former"
    )
    rule = next(iter(by_kind(tools.render(MONITORING), "PrometheusRule").values()))
    assert rule["spec"]["groups"] == ours


def test_monitoring_is_off_by_default(tools: Tools) -> None:
    kinds = {d["kind"] for d in tools.render(PRODUCTION)}
    assert not kinds & (CRD_KINDS | {"Ingress"})


# ---------------------------------------------------------------- secrets


@pytest.mark.parametrize("values", CI_VALUES, ids=ids)
def test_secrets_are_references_only(tools: Tools, values: Path) -> None:
    docs = tools.render(values)
    assert "Secret" not in {d["kind"] for d in docs}, "the chart must never create a Secret"
    text = yaml.safe_dump_all(docs)
    assert not re.search(r"://[^/\s:@]+:[^@\s]+@", text), "credentials in a URL"
    assert not re.search(
        r"(?i)(password|passphrase|secret_?key)\s*[:=]\s*['\"]?[^\s'\"{}]{6,}", text.replace("secretKeyRef", "")
    ), "a literal secret value"
    for name, spec in pod_specs(docs).items():
        for container in spec["containers"]:
            env = {e["name"]: e for e in container.get("env", [])}
            for setting in SECRET_SETTINGS & env.keys():
                assert set(env[setting]) == {"name", "valueFrom"} and "secretKeyRef" in env[setting]["valueFrom"], (
                    name,
                    setting,
                )


def test_secret_refs_point_at_the_named_secrets(tools: Tools) -> None:
    docs = tools.render(PRODUCTION)
    refs = {
        e["name"]: (e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
        for e in pod_specs(docs)["sahab-worker"]["containers"][0]["env"]
        if "valueFrom" in e and "secretKeyRef" in e["valueFrom"]
    }
    assert refs == {
        "SAHAB_DATABASE_URL": ("sahab-postgresql", "database-url"),
        "SAHAB_BROKER_URL": ("sahab-rabbitmq", "broker-url"),
        "SAHAB_BROKER_MANAGEMENT_URL": ("sahab-rabbitmq", "management-url"),
        "SAHAB_PULUMI_BACKEND_URL": ("sahab-pulumi", "backend-url"),
        "SAHAB_PULUMI_PASSPHRASE": ("sahab-pulumi", "passphrase"),
        "SAHAB_CREDENTIALS_KEYS": ("sahab-credentials-keys", "credentials-keys"),
        "SAHAB_OIDC_ISSUER": ("sahab-oidc", "issuer"),
        "SAHAB_OIDC_AUDIENCE": ("sahab-oidc", "audience"),
    }
    # The API opens what the workers sealed: both read the same keys.
    api_refs = {
        e["name"]: e["valueFrom"]["secretKeyRef"]["name"]
        for e in pod_specs(docs)["sahab-api"]["containers"][0]["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    assert api_refs["SAHAB_CREDENTIALS_KEYS"] == "sahab-credentials-keys"
    worker = pod_specs(docs)["sahab-worker"]
    assert worker["containers"][0]["envFrom"] == [{"secretRef": {"name": "sahab-pulumi-s3-credentials"}}]
    clouds = next(v for v in worker["volumes"] if v["name"] == "clouds")
    assert clouds["secret"] == {"secretName": "sahab-clouds", "items": [{"key": "clouds.yaml", "path": "clouds.yaml"}]}


@pytest.mark.parametrize(
    "missing", ["database", "broker", "pulumiBackend", "pulumiPassphrase", "credentialsKeys", "oidc"]
)
@pytest.mark.parametrize("skip_schema", [False, True], ids=["schema", "template-fail"])
def test_production_is_refused_without_external_services(tools: Tools, missing: str, skip_schema: bool) -> None:
    """Both the values schema and a template `fail` refuse production on the embedded defaults."""
    result = tools.template(
        PRODUCTION,
        sets=(f"secrets.{missing}.name=",),
        check=False,
        extra=("--skip-schema-validation",) if skip_schema else (),
    )
    assert result.returncode != 0
    expected = f"secrets.{missing}.name" if skip_schema else f"/secrets/{missing}/name"
    assert expected in result.stderr, result.stderr


def test_pulumi_provisioner_needs_clouds_yaml(tools: Tools) -> None:
    for extra in ((), ("--skip-schema-validation",)):
        result = tools.template(PRODUCTION, sets=("secrets.cloudsYaml.name=",), check=False, extra=extra)
        assert result.returncode != 0 and "cloudsYaml" in result.stderr, result.stderr


@pytest.mark.parametrize("setting", sorted(SECRET_SETTINGS))
def test_secret_settings_cannot_be_given_as_literals(tools: Tools, setting: str) -> None:
    result = tools.template(PRODUCTION, sets=(f"extraEnv[0].name={setting}", "extraEnv[0].value=x"), check=False)
    assert result.returncode != 0 and "/extraEnv/0/name" in result.stderr, result.stderr


def test_unknown_values_are_refused(tools: Tools) -> None:
    for bad in ("replicas=3", "api.replica=3", "secrets.database.password=x", "regions[0].colour=red"):
        result = tools.template(PRODUCTION, sets=(bad,), check=False)
        assert result.returncode != 0 and "additional properties" in result.stderr, (bad, result.stderr)


def test_embedded_mode_needs_no_secret(tools: Tools) -> None:
    docs = tools.render(EMBEDDED)
    assert sorted(d["kind"] for d in docs) == ["ConfigMap", "Deployment", "Service"]
    [spec] = pod_specs(docs).values()
    env = {e["name"] for e in spec["containers"][0]["env"]}
    assert not env & SECRET_SETTINGS and spec["containers"][0]["args"] == ["sahab-server", "all"]


# ---------------------------------------------------------------- one configuration


def _config(container: dict[str, Any]) -> tuple[Any, ...]:
    return (
        container["image"],
        container["env"],
        container.get("envFrom"),
        container["volumeMounts"],
        container["securityContext"],
    )


@pytest.mark.parametrize("values", [PRODUCTION, MONITORING], ids=["production", "ingress-monitoring"])
def test_api_workers_beat_and_migrations_share_one_configuration(tools: Tools, values: Path) -> None:
    specs = pod_specs(tools.render(values))
    assert set(specs) == {"sahab-api", "sahab-worker", "sahab-beat", "sahab-migrate"}
    configs = {name: _config(spec["containers"][0]) for name, spec in specs.items()}
    assert configs["sahab-api"] == configs["sahab-worker"] == configs["sahab-beat"] == configs["sahab-migrate"]
    volumes = {name: spec["volumes"] for name, spec in specs.items()}
    # Same volumes by name and source; only the worker's data dir has a size limit, and the Job's
    # catalogue is optional (the hook runs before the ConfigMap exists on install).
    assert volumes["sahab-api"] == volumes["sahab-beat"]
    assert [v["name"] for v in volumes["sahab-worker"]] == [v["name"] for v in volumes["sahab-api"]]


def test_rendered_env_is_a_valid_sahab_configuration(
    tools: Tools, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Every SAHAB_* variable the chart sets is a real setting (Settings forbids unknown ones)."""
    container = pod_specs(tools.render(PRODUCTION))["sahab-api"]["containers"][0]
    for e in container["env"]:
        if e["name"].startswith("SAHAB_"):
            value = e.get("value", "x")
            if e["name"] in {"SAHAB_DATABASE_URL", "SAHAB_PULUMI_BACKEND_URL"}:
                value = "postgresql://sahab@db/sahab"
            if e["name"] == "SAHAB_CREDENTIALS_KEYS":
                value = '["a-fernet-key"]'  # the Secret holds a JSON list, newest key first
            monkeypatch.setenv(e["name"], value)
    settings = Settings()
    assert settings.database_url.startswith("postgresql://") and settings.broker_url == "x"
    assert str(settings.data_dir) == "/var/lib/sahab" and settings.provisioner == "pulumi"
    assert settings.public_url == "https://sahab.example.org" and not settings.demo_accounts


def test_catalogue_configmap_is_a_valid_catalogue(tools: Tools, tmp_path: Path) -> None:
    docs = tools.render(PRODUCTION)
    configmap = by_kind(docs, "ConfigMap")["sahab-catalogue"]
    (tmp_path / "regions.yaml").write_text(configmap["data"]["regions.yaml"])
    catalogue = load_catalogue(tmp_path / "regions.yaml")
    assert [r.id for r in catalogue.regions] == ["rabat-1", "casablanca-1"]
    assert catalogue.regions[0].overcommit == {"vcpus": 4.0, "ram_mib": 1.5}
    container = pod_specs(docs)["sahab-api"]["containers"][0]
    path = next(e["value"] for e in container["env"] if e["name"] == "SAHAB_CATALOGUE_PATH")
    mount = next(m for m in container["volumeMounts"] if m["name"] == "catalogue")
    assert path == mount["mountPath"] + "/regions.yaml" and mount["readOnly"]
    volume = next(v for v in pod_specs(docs)["sahab-api"]["volumes"] if v["name"] == "catalogue")
    assert volume["configMap"]["name"] == "sahab-catalogue"
    # Pods roll when the catalogue changes.
    changed = tools.render(PRODUCTION, sets=("regions[0].capacity.vcpus=1",))
    for name in ("sahab-api", "sahab-worker", "sahab-beat"):
        old = by_kind(docs, "Deployment")[name]["spec"]["template"]["metadata"]["annotations"]["checksum/catalogue"]
        new = by_kind(changed, "Deployment")[name]["spec"]["template"]["metadata"]["annotations"]["checksum/catalogue"]
        assert old != new


# ---------------------------------------------------------------- programmes, prices, e-mail ----------


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container["env"]}


def test_programmes_and_price_list_are_mounted_read_only_and_load(
    tools: Tools, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ConfigMap's programmes.yaml and prices.yaml load with Sahab's own loaders (against the rendered
    regions), at the paths the env names, on the read-only catalogue mount; and the settings start."""
    docs = tools.render(PROGRAMMES)
    data = by_kind(docs, "ConfigMap")["sahab-catalogue"]["data"]
    for name in ("regions.yaml", "programmes.yaml", "prices.yaml"):
        (tmp_path / name).write_text(data[name])
    programmes = load_programmes(tmp_path / "programmes.yaml", load_catalogue(tmp_path / "regions.yaml"))
    assert [p.id for p in programmes.programmes] == ["startup-launch", "digital-transition"]
    prices = load_price_list(tmp_path / "prices.yaml")
    assert [v.version for v in prices.versions] == ["2026-01", "2027-01"]
    assert str(prices.versions[1].resources["vcpus"].prices["business"]) == "0.27"  # exact, never a float
    [container] = pod_specs(docs)["sahab"]["containers"]
    env, mount = _env(container), next(m for m in container["volumeMounts"] if m["name"] == "catalogue")
    assert mount["readOnly"] and env["SAHAB_PROGRAMMES_PATH"]["value"] == mount["mountPath"] + "/programmes.yaml"
    assert env["SAHAB_PRICE_LIST_PATH"]["value"] == mount["mountPath"] + "/prices.yaml"
    for name, e in env.items():
        if name.startswith("SAHAB_SMTP_") and "value" in e:
            monkeypatch.setenv(name, e["value"])
    monkeypatch.setenv("SAHAB_PROGRAMMES_PATH", str(tmp_path / "programmes.yaml"))
    monkeypatch.setenv("SAHAB_PRICE_LIST_PATH", str(tmp_path / "prices.yaml"))
    settings = Settings()
    assert (
        settings.smtp_host,
        settings.smtp_port,
        settings.smtp_sender,
        settings.smtp_starttls,
        settings.smtp_username,
        settings.smtp_attempts,
    ) == ("smtp.example.ma", 587, "sahab@cloud.example.ma", True, "sahab", 5)
    # Pods roll when a programme or a price changes.
    changed = tools.render(PROGRAMMES, sets=("programmes[0].grace_days=30",))
    old = by_kind(docs, "Deployment")["sahab"]["spec"]["template"]["metadata"]["annotations"]["checksum/catalogue"]
    assert (
        by_kind(changed, "Deployment")["sahab"]["spec"]["template"]["metadata"]["annotations"]["checksum/catalogue"]
        != old
    )


def test_smtp_password_comes_from_a_secret(tools: Tools) -> None:
    for name, spec in pod_specs(tools.render(PROGRAMMES)).items():
        env = _env(spec["containers"][0])
        assert env["SAHAB_SMTP_PASSWORD"] == {
            "name": "SAHAB_SMTP_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": "sahab-smtp", "key": "password"}},
        }, name
    for extra in ((), ("--skip-schema-validation",)):
        result = tools.template(PROGRAMMES, sets=("smtp.username=",), check=False, extra=extra)
        assert result.returncode != 0 and "secrets.smtpPassword needs smtp.host and smtp.username" in result.stderr, (
            result.stderr
        )


def test_without_programmes_prices_or_smtp_nothing_is_set(tools: Tools) -> None:
    """The defaults: no programme, the image's own price list, no e-mail."""
    docs = tools.render(PRODUCTION)
    assert set(by_kind(docs, "ConfigMap")["sahab-catalogue"]["data"]) == {"regions.yaml"}
    env = _env(pod_specs(docs)["sahab-api"]["containers"][0])
    assert not {n for n in env if n.startswith(("SAHAB_PROGRAMMES", "SAHAB_PRICE", "SAHAB_SMTP"))}


@pytest.mark.parametrize(
    "bad",
    [
        "programmes[0].colour=red",
        "programmes[0].price.discount_percent=0",
        "programmes[0].grant.preset=huge",
        "programmes[0].eligibility.sectors[0]=mining",
        "priceList.versions[0].resources.vcpus.business=1",
        "priceList.versions[0].effective=yesterday",
        "smtp.port=0",
        "smtp.password=hunter2",
    ],
)
def test_the_schema_refuses_bad_programmes_prices_and_smtp(tools: Tools, bad: str) -> None:
    result = tools.template(PROGRAMMES, sets=(bad,), check=False)
    assert result.returncode != 0, bad
    assert any(place in result.stderr for place in ("/programmes/0", "/priceList/versions/0", "/smtp")), (
        bad,
        result.stderr,
    )


# ---------------------------------------------------------------- workloads


def test_beat_is_exactly_one_replica_recreated(tools: Tools) -> None:
    beat = by_kind(tools.render(PRODUCTION, sets=("worker.replicas=7", "api.replicas=5")), "Deployment")["sahab-beat"]
    assert beat["spec"]["replicas"] == 1 and beat["spec"]["strategy"] == {"type": "Recreate"}
    assert beat["spec"]["template"]["spec"]["containers"][0]["args"] == ["sahab-server", "beat"]


def test_api_and_workers_scale_and_take_their_settings(tools: Tools) -> None:
    deployments = by_kind(
        tools.render(
            PRODUCTION, sets=("worker.replicas=7", "worker.concurrency=3", "api.replicas=5", "api.uvicornWorkers=6")
        ),
        "Deployment",
    )
    api, worker = deployments["sahab-api"], deployments["sahab-worker"]
    assert (api["spec"]["replicas"], worker["spec"]["replicas"]) == (5, 7)
    api_args = api["spec"]["template"]["spec"]["containers"][0]["args"]
    assert api_args[api_args.index("--workers") + 1] == "6" and api_args[api_args.index("--host") + 1] == "0.0.0.0"
    assert api_args[:2] == ["sahab-server", "api"]
    assert worker["spec"]["template"]["spec"]["containers"][0]["args"] == [
        "sahab-server",
        "worker",
        "--concurrency",
        "3",
        "--name",
        "$(POD_NAME)@sahab",
        "--metrics-port",
        "9108",
    ]


def test_migration_job_is_a_pre_install_and_pre_upgrade_hook(tools: Tools) -> None:
    job = by_kind(tools.render(PRODUCTION), "Job")["sahab-migrate"]
    annotations = job["metadata"]["annotations"]
    assert set(annotations["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    assert set(annotations["helm.sh/hook-delete-policy"].split(",")) == {"before-hook-creation", "hook-succeeded"}
    spec = job["spec"]["template"]["spec"]
    assert spec["restartPolicy"] == "Never" and spec["containers"][0]["args"] == ["sahab-server", "migrate"]
    catalogue = next(v for v in spec["volumes"] if v["name"] == "catalogue")
    assert catalogue["configMap"]["optional"] is True


def test_probes(tools: Tools) -> None:
    for values in (PRODUCTION, EMBEDDED):
        deployments = by_kind(tools.render(values), "Deployment")
        api = deployments.get("sahab-api") or deployments["sahab"]
        container = api["spec"]["template"]["spec"]["containers"][0]
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert {"name": "http", "containerPort": 8080, "protocol": "TCP"} in container["ports"]


def test_worker_and_beat_liveness_is_their_heartbeat_file(tools: Tools) -> None:
    """The probe command runs `sahab-server alive` on the file the process touches (on the /tmp emptyDir)."""
    deployments = by_kind(tools.render(PRODUCTION), "Deployment")
    for name in ("sahab-worker", "sahab-beat"):
        container = deployments[name]["spec"]["template"]["spec"]["containers"][0]
        for probe in (container["livenessProbe"], container["startupProbe"]):
            assert probe["exec"]["command"] == ["sahab-server", "alive", "--max-age", "120"]
        assert {"name": "SAHAB_HEARTBEAT_FILE", "value": "/tmp/sahab-heartbeat"} in container["env"]
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]


def test_resources_are_unset_by_default(tools: Tools) -> None:
    docs = tools.render(MONITORING)
    for spec in pod_specs(docs).values():
        assert all("resources" not in c for c in spec["containers"])
    worker = pod_specs(tools.render(PRODUCTION))["sahab-worker"]["containers"][0]
    assert worker["resources"] == {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}}


@pytest.mark.parametrize("values", CI_VALUES, ids=ids)
def test_every_pod_is_non_root_with_a_read_only_root_filesystem(tools: Tools, values: Path) -> None:
    for name, spec in pod_specs(tools.render(values)).items():
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] == 10001 and pod["runAsGroup"] == 10001, name
        assert spec["automountServiceAccountToken"] is False
        volumes = {v["name"]: v for v in spec["volumes"]}
        for container in spec.get("initContainers", []) + spec["containers"]:
            sc = container["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False, name
            assert sc["runAsNonRoot"] is True and sc["capabilities"] == {"drop": ["ALL"]}, name
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            env = {e["name"]: e.get("value") for e in container["env"]}
            # Everything Sahab writes is on a writable volume.
            for path in ("/tmp", env["PROMETHEUS_MULTIPROC_DIR"], env["SAHAB_DATA_DIR"]):
                volume = volumes[mounts[path]]
                assert "emptyDir" in volume or "persistentVolumeClaim" in volume, (name, path)
            assert env["HOME"] == "/tmp"


def test_security_context_cannot_be_loosened(tools: Tools) -> None:
    for bad in (
        "securityContext.readOnlyRootFilesystem=false",
        "podSecurityContext.runAsNonRoot=false",
        "securityContext.allowPrivilegeEscalation=true",
    ):
        result = tools.template(PRODUCTION, sets=(bad,), check=False)
        assert result.returncode != 0, bad


def test_worker_pods_carry_the_pulumi_settings(tools: Tools) -> None:
    worker = pod_specs(tools.render(PRODUCTION))["sahab-worker"]
    env = {e["name"]: e.get("value") for e in worker["containers"][0]["env"]}
    assert env["PULUMI_SKIP_UPDATE_CHECK"] == env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] == "true"
    assert env["OS_CLIENT_CONFIG_FILE"] == "/etc/openstack/clouds.yaml"
    data = next(v for v in worker["volumes"] if v["name"] == "data")
    assert data == {"name": "data", "emptyDir": {"sizeLimit": "2Gi"}}
    assert worker["terminationGracePeriodSeconds"] >= 60


def test_ingress(tools: Tools) -> None:
    docs = tools.render(MONITORING)
    ingress = by_kind(docs, "Ingress")["sahab"]
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [{"hosts": ["sahab.example.org"], "secretName": "sahab-tls"}]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "sahab", "port": {"name": "http"}}
    service = by_kind(docs, "Service")["sahab"]
    api = by_kind(docs, "Deployment")["sahab-api"]
    assert service["spec"]["selector"].items() <= api["spec"]["template"]["metadata"]["labels"].items()


def test_embedded_mode_refuses_a_public_url_it_cannot_listen_on(tools: Tools) -> None:
    result = tools.template(EMBEDDED, sets=("publicUrl=https://sahab.example.org",), check=False)
    assert result.returncode != 0 and "http://0.0.0.0:8080" in result.stderr


def test_notes_render(tools: Tools, tmp_path: Path) -> None:
    """NOTES.txt renders in both modes (`helm install --dry-run` needs a cluster, so a copy of the
    chart renders NOTES.txt into a ConfigMap with `helm template`)."""
    import shutil

    chart = tmp_path / "sahab"
    shutil.copytree(CHART, chart)
    notes = (chart / "templates" / "NOTES.txt").read_text()
    (chart / "templates" / "NOTES.txt").unlink()
    (chart / "templates" / "_notes.tpl").write_text('{{- define "test.notes" -}}\n' + notes + "\n{{- end }}")
    (chart / "templates" / "notes.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\ndata:\n"
        '  notes: {{ include "test.notes" . | quote }}\n'
    )
    for values in (PRODUCTION, EMBEDDED):
        result = tools.run_helm(
            "template", "sahab", str(chart), "-f", str(values), "--show-only", "templates/notes.yaml"
        )
        text = yaml.safe_load(result.stdout)["data"]["notes"]
        assert "/readyz" in text and "sahab --api" in text
        assert ("EVALUATION ONLY" in text) == (values == EMBEDDED)
        assert ("deployment/sahab-worker" in text) == (values == PRODUCTION)


def test_embedded_persistence_uses_an_existing_claim(tools: Tools) -> None:
    docs = tools.render(
        EMBEDDED, sets=("embedded.persistence.enabled=true", "embedded.persistence.existingClaim=sahab-data")
    )
    [spec] = pod_specs(docs).values()
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "sahab-data"}} in spec["volumes"]
    result = tools.template(EMBEDDED, sets=("embedded.persistence.enabled=true",), check=False)
    assert result.returncode != 0 and "existingClaim" in result.stderr
