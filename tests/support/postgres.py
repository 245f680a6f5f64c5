"""A real PostgreSQL server for the test session: a private cluster in a temp dir.

SAHAB_TEST_POSTGRES_URL (a server URL with a superuser) skips starting one.
A missing PostgreSQL installation fails loudly: it is an install step, not a skip.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

from tests.support.ports import free_port, wait_for_port


def _bin_dir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not candidates:
        raise RuntimeError(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): run `./dev setup` or apt-get install postgresql"
        )
    return Path(candidates[-1]).parent


class PostgresServer:
    def __init__(self, base: Path | None = None, *, durable: bool = False) -> None:
        """`durable`: fsync and synchronous commit as in production (benchmarks); tests run without."""
        # Not under pytest's tmp dir: that is private to root and the server runs as postgres.
        self.base = base or Path(tempfile.mkdtemp(prefix="sahab-test-pg-"))
        self.external = os.environ.get("SAHAB_TEST_POSTGRES_URL")
        self.port = 0
        self.data = self.base / "data"
        self.durable = durable

    @property
    def admin_url(self) -> str:
        return self.external or f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> PostgresServer:
        if self.external:
            return self
        bin_dir = _bin_dir()
        self.base.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if as_postgres:
            shutil.chown(self.base, "postgres", "postgres")
        _run(
            as_postgres
            + [
                str(bin_dir / "initdb"),
                "-D",
                str(self.data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
            ]
        )
        self._pg_ctl_start()
        return self

    def _pg_ctl_start(self) -> None:
        log = self.base / "postgres.log"
        fast = "" if self.durable else " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        _run(
            _as_postgres()
            + [
                str(_bin_dir() / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(log),
                "-w",
                "-o",
                f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c max_connections=300{fast}",
                "start",
            ]
        )
        wait_for_port(self.port, 30, "PostgreSQL", f"see {log}")

    def restart(self, down_seconds: float = 0.0, mode: str = "fast") -> None:
        """Stop the server, stay down `down_seconds`, and start it again on the same port and data.
        `fast` cuts every connection and rolls back what is in flight, as a restart or a failover
        does. `immediate` is a crash: the test server (synchronous_commit off, unless `durable`)
        may then lose commits it acknowledged, as any PostgreSQL configured so would."""
        if self.external:
            raise RuntimeError("cannot restart an external PostgreSQL (SAHAB_TEST_POSTGRES_URL)")
        _run(_as_postgres() + [str(_bin_dir() / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"])
        if down_seconds:
            time.sleep(down_seconds)  # an outage of a given length, not a synchronisation
        self._pg_ctl_start()

    def stop(self) -> None:
        if self.external or not self.port:
            return
        subprocess.run(
            _as_postgres() + [str(_bin_dir() / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(self.base, ignore_errors=True)

    def create_database(self, template: str | None = None) -> str:
        name = f"sahab_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True) as connection:
            suffix = f" TEMPLATE {template}" if template else ""
            connection.execute(f'CREATE DATABASE "{name}"{suffix}')
        return self.admin_url.rsplit("/", 1)[0] + "/" + name

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.admin_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _as_postgres() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}): {result.stderr or result.stdout}")
