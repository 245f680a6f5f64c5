"""`sahab-server`: run the API, a worker, the beat scheduler, migrations, or all of them
at once on the embedded defaults (what `./dev run` starts)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

import typer
from pydantic import ValidationError

from controlplane.persistence.database import private_directory
from controlplane.settings import get_settings
from controlplane.tasks import liveness

cli = typer.Typer(add_completion=False, help="Run Sahab's server processes.")


def _multiproc_env() -> dict[str, str]:
    env = dict(os.environ)
    if not env.get("PROMETHEUS_MULTIPROC_DIR"):
        private_directory(get_settings().data_dir)
        directory = get_settings().data_dir / "metrics"
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink()
        env["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    return env


@cli.command()
def migrate() -> None:
    """Apply database migrations (Alembic) up to the newest."""
    # Alembic loads for this command only: the liveness probe (`alive`) starts this module every few seconds.
    from controlplane.persistence.migrate import upgrade

    settings = get_settings()
    upgrade(settings.database_url)
    typer.echo(f"database at {settings.database_url.split('@')[-1]} is up to date")


@cli.command()
def api(
    workers: int = typer.Option(1, help="uvicorn worker processes"),
    host: str = typer.Option("", help="address to bind; default: the host of SAHAB_PUBLIC_URL"),
    port: int = typer.Option(0, help="port to bind; default: the port of SAHAB_PUBLIC_URL"),
) -> None:
    """Serve the HTTP API (behind a proxy or in a pod, bind 0.0.0.0 and keep SAHAB_PUBLIC_URL public)."""
    settings = get_settings()
    url = urlparse(settings.public_url)
    # The access line is Sahab's own (sahab.access: route template, status, duration, request id).
    os.execvpe(
        sys.executable,
        [
            sys.executable,
            "-m",
            "uvicorn",
            "api.main:app",
            "--host",
            host or url.hostname or "127.0.0.1",
            "--port",
            str(port or url.port or 8080),
            "--workers",
            str(workers),
            "--no-access-log",
            *uvicorn_log_options(settings.log_format, settings.log_level),
        ],
        _multiproc_env(),
    )


def uvicorn_log_options(log_format: str, level: str) -> list[str]:
    """With JSON logs, uvicorn's own lines (start, stop, errors with their tracebacks) are JSON from
    its first line on: its loggers go through the root logger's JSON formatter."""
    if log_format != "json":
        return []
    # Only here, like Alembic in `migrate`: it brings in the tracing SDK, which the probe does not need.
    from controlplane.observability.logs import UVICORN_LOG_CONFIG

    return ["--log-config", str(UVICORN_LOG_CONFIG), "--log-level", level.lower()]


@cli.command()
def worker(
    concurrency: int = typer.Option(2, help="tasks run at once"),
    name: str = typer.Option(
        "worker@%h", help="Celery node name; a restarted worker with the same name resumes its own work at once"
    ),
    metrics_port: int = typer.Option(
        0, help="serve this worker's metrics on a port (when its metrics directory is its own, as in a pod)"
    ),
) -> None:
    """Run a Celery worker for provisioning tasks."""
    env = _multiproc_env()
    if metrics_port:
        env["SAHAB_WORKER_METRICS_PORT"] = str(metrics_port)
    os.execvpe(
        sys.executable,
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "controlplane.worker",
            "worker",
            "--concurrency",
            str(concurrency),
            "--loglevel",
            "INFO",
            "-Q",
            "sahab",
            "-n",
            name,
        ],
        env,
    )


@cli.command()
def beat() -> None:
    """Run the periodic scheduler (one replica): reconciliation of lost work."""
    schedule = Path(tempfile.gettempdir()) / "sahab-beat-schedule"
    os.execvpe(
        sys.executable,
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "controlplane.worker",
            "beat",
            "--loglevel",
            "INFO",
            "-s",
            str(schedule),
            "-S",
            "controlplane.tasks.liveness:HeartbeatScheduler",
        ],
        _multiproc_env(),
    )


@cli.command()
def alive(
    max_age: float = typer.Option(
        120.0, help="seconds since the last heartbeat after which the process counts as stuck"
    ),
) -> None:
    """Liveness probe of a worker or beat: exit 0 when its heartbeat file (SAHAB_HEARTBEAT_FILE) is recent."""
    path = get_settings().heartbeat_file
    if path is None:
        typer.echo(
            "sahab-server alive: SAHAB_HEARTBEAT_FILE is not set: no process writes a heartbeat to check", err=True
        )
        raise typer.Exit(2)
    verdict = liveness.check(path, max_age)
    typer.echo(verdict.reason, err=not verdict.alive)
    raise typer.Exit(0 if verdict.alive else 1)


@cli.command("all")
def run_all() -> None:
    """Migrate, then run API, worker and beat together until interrupted."""
    migrate()
    env = _multiproc_env()
    me = [sys.executable, "-m", "api.server"]
    children = [subprocess.Popen(me + [name], env=env) for name in ("api", "worker", "beat")]
    typer.echo(f"Sahab API on {get_settings().public_url} (Ctrl-C stops API, worker and beat)")

    def stop(*_: object) -> None:
        for child in children:
            if child.poll() is None:
                child.terminate()

    signal.signal(signal.SIGTERM, stop)
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        stop()
        for child in children:
            child.wait(timeout=30)
    if any(c.returncode not in (0, -signal.SIGTERM, None) for c in children):
        raise typer.Exit(1)


def main() -> None:
    try:
        get_settings()  # refuse to start on unsafe or invalid settings, saying why
    except ValidationError as error:
        for problem in error.errors():
            where = ".".join(str(p) for p in problem["loc"]) or "settings"
            typer.echo(f"sahab-server: {where}: {problem['msg'].removeprefix('Value error, ')}", err=True)
        raise SystemExit(2) from None
    cli()


if __name__ == "__main__":
    main()
