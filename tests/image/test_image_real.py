"""Sahab's image (Containerfile, built by image/build from Debian bases) runs the whole system.

The API, a worker and beat run as three podman containers with the Helm chart's own settings
(command, args, environment, non-root user, read-only root, the chart's writable paths as tmpfs,
the catalogue and clouds.yaml mounted read-only), on the host's network, against the suite's
PostgreSQL and RabbitMQ, the test issuer and the local OpenStack. The CLI on the host asks for
quotas; the containerised worker provisions them with Pulumi. A part that cannot start fails the test."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from cryptography.fernet import Fernet

from tests.support.cli import write_credentials
from tests.support.containers import (
    build_image,
    chart_containers,
    in_image,
    logs,
    podman,
    remove,
    render_chart,
    run_args,
)
from tests.support.ports import free_port, wait_for_port
from tests.support.tenants import cleanup, verified_org

pytestmark = [
    pytest.mark.devcloud,
    pytest.mark.pulumi,
    pytest.mark.postgres,
    pytest.mark.rabbitmq,
    pytest.mark.timeout(1800),
]

ROOT = Path(__file__).resolve().parents[2]
FINAL = {"active", "failed", "rejected", "cancelled"}


@pytest.fixture(scope="module")
def image() -> str:
    return build_image()


def _helm() -> str:
    result = subprocess.run([str(ROOT / "helm" / "ensure-tools")], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail(f"helm/ensure-tools failed:\n{result.stderr[-3000:]}", pytrace=False)
    return str(Path(result.stdout.strip()) / "helm")


def _clouds_yaml() -> Path:
    path = Path(os.environ.get("OS_CLIENT_CONFIG_FILE") or Path.home() / ".local/state/sahab/devcloud/clouds.yaml")
    if not path.is_file():
        pytest.fail(
            f"the local OpenStack is not set up ({path} missing): run devcloud/sahab-devcloud up", pytrace=False
        )
    return path


def test_the_image_holds_no_build_tools_and_no_secrets(image):
    files = in_image(image, "find", "/", "-xdev", "(", "-type", "f", "-o", "-type", "l", ")", "-print").split("\n")
    names = {Path(f).name for f in files}
    for tool in ("gcc", "cc", "g++", "make", "go", "gofmt", "pip", "pip3", "apt-get.real", "ld.gold"):
        assert tool not in names, f"{tool} in the image: {[f for f in files if Path(f).name == tool]}"
    assert not [f for f in files if "/site-packages/pip/" in f or "/site-packages/setuptools/" in f]
    assert not [f for f in files if f.startswith(("/root/.cache", "/tmp/", "/wheelhouse", "/src/", "/usr/local/go"))]
    assert not [
        f
        for f in files
        if f.endswith((".whl", ".pem.key", "credentials.key", "clouds.yaml"))
        and not f.startswith("/usr/share/")
        and "/site-packages/openstack/tests/" not in f
    ]  # sdk's fixtures
    packages = set(in_image(image, "dpkg-query", "-W", "-f", "${Package}\n").split())
    assert "python3" in packages
    assert not packages & {
        "gcc",
        "gcc-12",
        "cpp",
        "make",
        "binutils",
        "libc6-dev",
        "golang-go",
        "python3-pip",
        "python3-venv",
        "python3.11-venv",
        "python3-pip-whl",
        "python3-setuptools-whl",
    }
    # What a secret would look like: no private key or credentials file, no SAHAB_* value baked in.
    config = json.loads(
        subprocess.run([*podman(), "image", "inspect", image], capture_output=True, text=True, check=True).stdout
    )[0]["Config"]
    assert not [
        e
        for e in config.get("Env", [])
        if e.startswith(("SAHAB_DATABASE", "SAHAB_PULUMI_PASSPHRASE", "SAHAB_CREDENTIALS", "OS_PASSWORD", "AWS_"))
    ]
    assert config.get("User") == "10001:10001"
    key_files = in_image(
        image,
        "sh",
        "-c",
        "grep -rlE --exclude='*.py' --exclude='*.pyc' -- '-----BEGIN ([A-Z]+ )?PRIVATE KEY-----' /opt /etc /var /usr/local "
        "2>/dev/null || true",
    )
    assert key_files.split() == [], key_files
    versions = in_image(
        image, "sh", "-c", "pulumi version && pulumi-resource-openstack -version && sahab-server --help"
    )
    assert versions.startswith("v3.274.1\n5.5.3\n")


# A statement with one Arabic-named project line, rendered by the image's own export code (Pango in the image).
_PDF_IN_IMAGE = """
import base64, sys
from datetime import datetime, timezone
from types import SimpleNamespace as NS
from controlplane.billing import exports
line = dict(project_id="p-1", region_id="rabat-1", environment="prod", resource="vcpus", unit="vcpu-hour",
            basis="granted", price_version="2026-01", quantity="720", unit_price="0.0500", discount_percent="0",
            amount="36.00")
statement = NS(number="SAH-2026-000001", period="2026-03", currency="MAD", issued_at=datetime(2026, 4, 1, tzinfo=timezone.utc),
               price_versions=["2026-01"], reason=None, state="issued", kind="statement", corrected_by_id=None,
               corrects_id=None, replaces_id=None, lines=[line], list_total="36.00", discount_total="0.00", total="36.00")
organisation = NS(id="org-1", legal_name="تعاونية النسيج", national_id="001234567000089")
sys.stdout.write(base64.b64encode(exports.to_pdf(statement, organisation, "ar", lambda text: text)).decode())
"""


def test_statement_pdfs_render_in_the_image(image, tmp_path):
    pdf = tmp_path / "statement-ar.pdf"
    pdf.write_bytes(base64.b64decode(in_image(image, "/opt/sahab/bin/python", "-c", _PDF_IN_IMAGE)))
    assert pdf.read_bytes().startswith(b"%PDF-")
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert "DejaVu-Sans" in fonts, fonts  # embedded: the glyphs, Arabic ones too, come from the image
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "SAH-2026-000001" in text and "36" in text, text


def test_api_worker_and_beat_from_the_image_provision_a_request_made_with_the_cli(
    image, postgres, rabbitmq, issuer, tmp_path: Path, monkeypatch
):
    import openstack

    port, metrics_port = free_port(), free_port()
    catalogue = yaml.safe_load((ROOT / "controlplane" / "catalogue" / "demo-regions.yaml").read_text())
    values = yaml.safe_load((ROOT / "helm" / "sahab" / "ci" / "production-values.yaml").read_text())
    values.update(
        publicUrl=f"http://127.0.0.1:{port}",
        regions=catalogue["regions"],
        extraEnv=[],
        image={"repository": image.rsplit(":", 1)[0], "tag": image.rsplit(":", 1)[1]},
    )
    values["secrets"]["extraEnvFrom"] = []
    values["service"] = {"port": port}  # the API's listening port (the host's network is shared)
    values["api"]["uvicornWorkers"] = 2
    values["worker"].update(concurrency=1, metricsPort=metrics_port)
    docs = render_chart(_helm(), values, tmp_path)
    postgres_url = postgres.create_database()  # empty: the chart's migration Job, run from the image, migrates it
    secrets = {
        "SAHAB_DATABASE_URL": postgres_url,
        "SAHAB_BROKER_URL": rabbitmq.url,
        "SAHAB_BROKER_MANAGEMENT_URL": rabbitmq.management_url,
        "SAHAB_PULUMI_BACKEND_URL": "",  # the file backend in the worker's data emptyDir
        "SAHAB_PULUMI_PASSPHRASE": "image-test-passphrase",
        "SAHAB_CREDENTIALS_KEYS": json.dumps([Fernet.generate_key().decode()]),
        "SAHAB_OIDC_ISSUER": issuer.url,
        "SAHAB_OIDC_AUDIENCE": "sahab",
    }
    specs = chart_containers(docs, secrets)
    assert set(specs) == {"migrate", "api", "worker", "beat"}
    # The API in a pod binds 0.0.0.0; on the host's network here, loopback only.
    args = specs["api"].container["args"]
    args[args.index("--host") + 1] = "127.0.0.1"

    (config := tmp_path / "catalogue").mkdir()
    configmap = next(d for d in docs if d["kind"] == "ConfigMap")
    for name, text in configmap["data"].items():
        (config / name).write_text(text)
    (clouds := tmp_path / "clouds").mkdir()
    (clouds / "clouds.yaml").write_bytes(_clouds_yaml().read_bytes())
    for path in (config, clouds, *config.iterdir(), *clouds.iterdir()):
        path.chmod(0o755 if path.is_dir() else 0o644)  # what a ConfigMap/Secret volume gives the pod's user

    names = {c: f"sahab-image-test-{c}-{os.getpid()}" for c in specs}
    volume_dirs = {"catalogue": config, "clouds": clouds}
    started = time.monotonic()
    try:
        # The pre-install hook Job first (a Job's container runs to completion).
        migrate = subprocess.run(
            [*podman(), *run_args(specs["migrate"], image, names["migrate"], volume_dirs, detach=False)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert migrate.returncode == 0, (
            f"the migration Job's container: {migrate.stdout[-3000:]}{migrate.stderr[-3000:]}"
        )
        assert "is up to date" in migrate.stdout
        print(f"\nmigration Job from the image: {time.monotonic() - started:.1f}s")
        for component in ("api", "worker", "beat"):
            run = subprocess.run(
                [*podman(), *run_args(specs[component], image, names[component], volume_dirs)],
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert run.returncode == 0, f"podman run {component}: {run.stderr}"
        for component, wanted in (("api", port), ("worker", metrics_port)):
            try:
                wait_for_port(wanted, 120, f"the {component} container")
            except RuntimeError as error:
                raise AssertionError(f"{error}\n{logs(names[component])}") from None
        print(f"three containers up, API and worker answering: {time.monotonic() - started:.1f}s")
        api = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
        assert api.get("/readyz").json()["checks"] == {"database": "ok", "broker": "ok"}

        owner = issuer.token("image-owner", lifetime=3600)
        org = verified_org(
            api, {"Authorization": f"Bearer {owner}"}, issuer.headers("image-operator", roles=("operator", "approver"))
        )
        home = tmp_path / "cli-home"
        write_credentials(home, owner, f"http://127.0.0.1:{port}", expires_at=time.time() + 3600)
        cli_env = {
            **os.environ,
            "XDG_CONFIG_HOME": str(home),
            "SAHAB_API_URL": f"http://127.0.0.1:{port}",
            "SAHAB_POLL_INTERVAL": "1",
        }
        cli_env.pop("SAHAB_CLIENT_ID", None)
        cli_env.pop("SAHAB_CLIENT_SECRET", None)
        try:
            asked = time.monotonic()
            result = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "from cli.main import main; main()",
                    "--output",
                    "json",
                    "request",
                    "create",
                    "--org",
                    org,
                    "--region",
                    "rabat-1",
                    "--env",
                    "prod",
                    "--preset",
                    "small",
                    "--justification",
                    "image test",
                    "--wait",
                    "--timeout",
                    "600",
                ],
                capture_output=True,
                text=True,
                env=cli_env,
                timeout=700,
            )
            assert result.returncode == 0, (result.stdout[-2000:], result.stderr[-2000:], logs(names["worker"]))
            request = json.loads(result.stdout)
            assert request["state"] == "active", (request, logs(names["worker"]))
            print(
                f"request made with the CLI on the host to active by the containerised worker: "
                f"{time.monotonic() - asked:.1f}s"
            )

            # The worker container ran Pulumi: its events name the resources the engine created.
            headers = {"Authorization": f"Bearer {owner}"}
            events = api.get(f"/v1/quota-requests/{request['id']}/events", headers=headers).json()
            assert "created Project project" in [e["reason"] for e in events if e["to_state"] is None]

            api_metrics = api.get("/metrics").text
            assert "sahab_admission_decisions_total" in api_metrics, api_metrics[:2000]  # the API admitted it
            # The oldest waiting task's age, read from RabbitMQ's management API (secrets.brokerManagement).
            assert "sahab_queue_oldest_message_age_seconds{" in api_metrics, api_metrics[:2000]
            worker_metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
            for name in ("sahab_provisioning_duration_seconds_count", "sahab_worker_last_heartbeat_timestamp_seconds"):
                assert name in worker_metrics, (name, worker_metrics[:3000])  # the worker provisioned it

            # The chart's liveness probes, run as the kubelet would (exec in the container).
            for component in ("worker", "beat"):
                probe = subprocess.run(
                    [*podman(), "exec", names[component], *specs[component].liveness],
                    capture_output=True,
                    text=True,
                    timeout=60,
                )
                assert probe.returncode == 0, (component, probe.stdout, probe.stderr, logs(names[component]))
                assert "last heartbeat" in probe.stderr + probe.stdout
            # The root filesystem really is read-only for the running user.
            write = subprocess.run(
                [*podman(), "exec", names["worker"], "sh", "-c", "touch /opt/sahab/x"],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert write.returncode != 0 and "Read-only file system" in write.stderr
            whoami = subprocess.run(
                [*podman(), "exec", names["worker"], "id", "-u"], capture_output=True, text=True, timeout=60
            )
            assert whoami.stdout.strip() == "10001"
        finally:
            monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(_clouds_yaml()))
            connection = openstack.connect(cloud="sahab-devcloud", api_timeout=60)
            cleanup(connection, org)
            connection.close()
    finally:
        remove(*names.values())
        postgres.drop_database(postgres_url)
