"""A real Kubernetes API server for the chart tests: Debian's etcd and a kube-apiserver built from
Go modules (kube/ensure-apiserver), on free loopback ports, in a temp dir.

The server has what a production control plane has on its API side: TLS (a self-signed
certificate for 127.0.0.1, trusted by path, never skipped), a static admin token in
system:masters, RBAC authorization, service-account signing keys and the default admission
plugins. It has no controller-manager, scheduler or kubelet: objects are admitted and stored, but
no ReplicaSet, Pod or Job run is ever made. A part that cannot start raises, naming its log.
"""

from __future__ import annotations

import datetime
import ipaddress
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.support.ports import free_port
from tests.support.processes import stop

ROOT = Path(__file__).resolve().parents[2]
ENSURE = ROOT / "kube" / "ensure-apiserver"


def ensure_apiserver(*args: str) -> str:
    """stdout of kube/ensure-apiserver (built and cached on first use); raises with its stderr."""
    result = subprocess.run([str(ENSURE), *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(
            f"kube/ensure-apiserver {' '.join(args)} failed (exit {result.returncode}):\n{result.stderr[-3000:]}"
        )
    return result.stdout.strip()


def _self_signed_certificate(cert_path: Path, key_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sahab-test-kube-apiserver")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        # Its own trust anchor: clients are given this file as their CA.
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


def _service_account_key(path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


class KubeApiServer:
    """etcd + kube-apiserver. `start()` returns once /readyz answers ok; `stop()` removes everything."""

    def __init__(self, base: Path | None = None, *, ready_timeout: float = 120) -> None:
        self.base = base or Path(tempfile.mkdtemp(prefix="sahab-test-kube-"))
        self.ready_timeout = ready_timeout
        self.token = secrets.token_urlsafe(32)
        self.port = 0
        self.ready_seconds = 0.0
        self._processes: list[subprocess.Popen[bytes]] = []
        self._client: httpx.Client | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca_file(self) -> Path:
        return self.base / "apiserver.crt"

    @property
    def kubeconfig(self) -> Path:
        return self.base / "kubeconfig"

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                base_url=self.url,
                verify=str(self.ca_file),
                timeout=30,
                headers={"Authorization": f"Bearer {self.token}"},
            )
        return self._client

    def start(self) -> KubeApiServer:
        binary = Path(ensure_apiserver()) / "kube-apiserver"
        etcd = shutil.which("etcd")
        if etcd is None:
            raise RuntimeError(
                "etcd is not installed (Debian's etcd-server package): run `./dev test` or apt-get install etcd-server"
            )
        self.base.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        etcd_port, peer_port = free_port(), free_port()
        etcd_log = self.base / "etcd.log"
        self._spawn(
            [
                etcd,
                "--name",
                "sahab-test",
                "--data-dir",
                str(self.base / "etcd"),
                "--listen-client-urls",
                f"http://127.0.0.1:{etcd_port}",
                "--advertise-client-urls",
                f"http://127.0.0.1:{etcd_port}",
                "--listen-peer-urls",
                f"http://127.0.0.1:{peer_port}",
                "--initial-advertise-peer-urls",
                f"http://127.0.0.1:{peer_port}",
                "--initial-cluster",
                f"sahab-test=http://127.0.0.1:{peer_port}",
                "--unsafe-no-fsync",
            ],
            etcd_log,
        )
        # Debian ships no etcdctl with etcd-server: /health is the probe.
        self._wait(
            lambda: httpx.get(f"http://127.0.0.1:{etcd_port}/health", timeout=2).json().get("health") == "true",
            "etcd",
            etcd_log,
        )

        _self_signed_certificate(self.ca_file, self.base / "apiserver.key")
        _service_account_key(self.base / "sa.key")
        (self.base / "tokens.csv").write_text(f'{self.token},sahab-test-admin,sahab-test-admin,"system:masters"\n')
        self.port = free_port()
        log = self.base / "kube-apiserver.log"
        self._spawn(
            [
                str(binary),
                f"--etcd-servers=http://127.0.0.1:{etcd_port}",
                "--bind-address=127.0.0.1",
                f"--secure-port={self.port}",
                "--advertise-address=127.0.0.1",
                f"--cert-dir={self.base / 'certs'}",
                f"--tls-cert-file={self.ca_file}",
                f"--tls-private-key-file={self.base / 'apiserver.key'}",
                f"--service-account-key-file={self.base / 'sa.key'}",
                f"--service-account-signing-key-file={self.base / 'sa.key'}",
                "--service-account-issuer=https://kubernetes.default.svc",
                f"--token-auth-file={self.base / 'tokens.csv'}",
                "--authorization-mode=RBAC",
                "--service-cluster-ip-range=10.96.0.0/16",
                "--profiling=false",
                "--v=1",
            ],
            log,
        )
        self._wait(self._ready, "kube-apiserver", log)
        self.ready_seconds = time.monotonic() - started
        self._write_kubeconfig()
        return self

    def _ready(self) -> bool:
        return self.client.get("/readyz").text == "ok"

    def _spawn(self, command: list[str], log: Path) -> None:
        with log.open("wb") as out:
            self._processes.append(
                subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.base)
            )

    def _wait(self, probe: Any, what: str, log: Path) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self._processes):
                raise RuntimeError(f"{what} exited before it was ready; {log}:\n{log.read_text()[-3000:]}")
            try:
                if probe():
                    return
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.5)  # polling a server that has no readiness event to await
        raise RuntimeError(f"{what} was not ready within {self.ready_timeout:.0f}s; {log}:\n{log.read_text()[-3000:]}")

    def _write_kubeconfig(self) -> None:
        self.kubeconfig.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": "sahab-test",
                    "clusters": [
                        {
                            "name": "sahab-test",
                            "cluster": {"server": self.url, "certificate-authority": str(self.ca_file)},
                        }
                    ],
                    "users": [{"name": "sahab-test-admin", "user": {"token": self.token}}],
                    "contexts": [
                        {"name": "sahab-test", "context": {"cluster": "sahab-test", "user": "sahab-test-admin"}}
                    ],
                }
            )
        )
        self.kubeconfig.chmod(0o600)

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
        # The API server first: stopped after etcd, it waits on the lost storage before it exits.
        for process in reversed(self._processes):
            stop([process])
        self._processes.clear()
        shutil.rmtree(self.base, ignore_errors=True)

    # --- the REST API (no kubectl here) -----------------------------------------------------

    def resource_path(self, api_version: str, kind: str, namespace: str | None, name: str | None = None) -> str:
        """The REST path of a kind, found by discovery (so CRD kinds work as built-in ones do)."""
        prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        discovery = self.client.get(prefix)
        discovery.raise_for_status()
        found = [r for r in discovery.json()["resources"] if r["kind"] == kind and "/" not in r["name"]]
        if not found:
            raise LookupError(f"the API server serves no kind {kind} in {api_version}")
        resource = found[0]
        path = prefix
        if resource["namespaced"]:
            path += f"/namespaces/{namespace}"
        path += f"/{resource['name']}"
        return f"{path}/{name}" if name else path

    def create(self, manifest: dict[str, Any], namespace: str | None = None) -> httpx.Response:
        path = self.resource_path(manifest["apiVersion"], manifest["kind"], namespace)
        return self.client.post(path, json=manifest)

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> httpx.Response:
        return self.client.get(self.resource_path(api_version, kind, namespace, name))

    def list(self, api_version: str, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        response = self.client.get(self.resource_path(api_version, kind, namespace))
        response.raise_for_status()
        return response.json()["items"]

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> httpx.Response:
        return self.client.delete(self.resource_path(api_version, kind, namespace, name))

    def install_crds(self, directory: Path) -> list[str]:
        """Create every CustomResourceDefinition in `directory` and wait until each is Established."""
        names = []
        for path in sorted(directory.glob("*.yaml")):
            for crd in (d for d in yaml.safe_load_all(path.read_text()) if d):
                response = self.create(crd)
                if response.status_code != 201:
                    raise RuntimeError(f"CRD {path.name} was refused ({response.status_code}): {response.text[:2000]}")
                names.append(crd["metadata"]["name"])
        for name in names:
            self._wait(lambda name=name: self._established(name), f"CRD {name}", self.base / "kube-apiserver.log")
        return names

    def _established(self, crd: str) -> bool:
        # Right after creation the stored status has `conditions: null`.
        status = self.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", crd).json().get("status") or {}
        return any(c["type"] == "Established" and c["status"] == "True" for c in status.get("conditions") or [])
