"""Sahab served whole (API, built-in issuer with its demo accounts, portal) on a real port in this
process, and a person driving the portal over HTTP as a browser would: cookies, redirects, forms."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from typing import Any

import httpx

from api.issuer.testing import BackgroundServer
from controlplane.composition import ApiRoot, build_api
from tests.support.identity import isolated_settings

HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


@dataclass
class ServedSahab:
    url: str
    runtime: ApiRoot

    @property
    def portal(self) -> str:
        return f"{self.url}/portal"


@contextmanager
def served_sahab(
    database_url: str, data_dir: Path, queue: Any = None, clock: Any = None, **settings: Any
) -> Iterator[ServedSahab]:
    from api.app import create_app

    server = BackgroundServer()
    try:
        configured = isolated_settings(server.url, data_dir, database_url=database_url, **settings)
        runtime = build_api(configured, queue=queue, clock=clock)
        server.start(create_app(runtime=runtime))
        yield ServedSahab(server.url, runtime)
    finally:
        server.stop()


def hidden_fields(html: str) -> dict[str, str]:
    return {name: unescape(value) for name, value in HIDDEN.findall(html)}


class PortalUser:
    """One person's browser: an httpx client with its own cookies."""

    def __init__(self, sahab: ServedSahab, accept_language: str = "en") -> None:
        self.sahab = sahab
        self.http = httpx.Client(
            base_url=sahab.url, timeout=30, follow_redirects=True, headers={"Accept-Language": accept_language}
        )

    def sign_in(self, username: str, password: str, next: str = "/portal") -> httpx.Response:
        form_page = self.http.get("/portal/signin", params={"next": next})
        assert form_page.status_code == 200 and "/issuer/authorize" in str(form_page.url), form_page.text
        fields = {**hidden_fields(form_page.text), "username": username, "password": password, "action": "approve"}
        return self.http.post("/issuer/authorize", data=fields)

    def csrf(self, page: str = "/portal") -> str:
        response = self.http.get(page)
        match = re.search(r'name="csrf" value="([^"]+)"', response.text)
        assert match, f"no CSRF token on {page}: {response.text[:500]}"
        return match.group(1)

    def post(self, path: str, data: dict[str, str], csrf_from: str = "/portal", **kwargs: Any) -> httpx.Response:
        return self.http.post(path, data={"csrf": self.csrf(csrf_from), **data}, **kwargs)

    def close(self) -> None:
        self.http.close()


@contextmanager
def sahab_all(data_dir: Path, logs: Path) -> Iterator[str]:
    """`sahab-server all` as `./dev run` starts it (API, worker and beat on the embedded defaults: SQLite,
    the filesystem broker, the built-in issuer with its demo accounts, the demo regions, the real Pulumi
    provisioner on the local OpenStack named by OS_CLIENT_CONFIG_FILE). Yields the API's URL."""
    import os
    import signal
    import subprocess
    import sys

    from tests.support.api_process import ROOT, wait_ready
    from tests.support.ports import free_port

    toolchain = subprocess.run([str(ROOT / "toolchain" / "ensure-pulumi")], capture_output=True, text=True)
    if toolchain.returncode != 0:
        raise RuntimeError(f"the Pulumi toolchain is not available: {toolchain.stderr[-2000:]}")
    clouds = os.environ.get("OS_CLIENT_CONFIG_FILE", "")
    if not clouds or not Path(clouds).is_file():
        raise RuntimeError(
            f"the local OpenStack is not configured (OS_CLIENT_CONFIG_FILE={clouds!r}): run "
            '`devcloud/sahab-devcloud up` and `eval "$(devcloud/sahab-devcloud env)"`'
        )
    port = free_port()
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("SAHAB_") and key != "OS_CLOUD"
    }
    environment.update(
        {
            "PYTHONPATH": str(ROOT),
            "PATH": f"{toolchain.stdout.strip()}{os.pathsep}{os.environ['PATH']}",
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "OS_CLIENT_CONFIG_FILE": clouds,
            "SAHAB_DATA_DIR": str(data_dir),
            "SAHAB_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "SAHAB_POLL_INTERVAL": "0.5",
        }
    )
    environment.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log_path = logs / "sahab-all.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "api.server", "all"],
            env=environment,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_ready(f"http://127.0.0.1:{port}/healthz", process, log_path)
            yield f"http://127.0.0.1:{port}"
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
