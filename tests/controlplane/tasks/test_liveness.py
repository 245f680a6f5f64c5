"""Liveness of workers and beat: the heartbeat file, the probe's verdict, and `sahab-server alive`
(the command the chart's exec probes run) as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from celery import Celery

from controlplane.tasks.liveness import BEAT_MAX_INTERVAL, HeartbeatScheduler, check, heartbeat_on_signal, touch

ROOT = Path(__file__).resolve().parents[3]


def test_a_recent_heartbeat_is_alive_and_an_old_or_missing_one_is_not(tmp_path):
    path = tmp_path / "heartbeat"
    assert not check(path, 60, clock=lambda: 1000.0).alive
    assert "no heartbeat file" in check(path, 60, clock=lambda: 1000.0).reason
    touch(path, now=1000.0)
    assert check(path, 60, clock=lambda: 1059.0).alive
    stuck = check(path, 60, clock=lambda: 1061.0)
    assert not stuck.alive and "61 s ago" in stuck.reason


def test_the_signal_receiver_touches_the_file_and_does_nothing_without_one(tmp_path):
    path = tmp_path / "heartbeat"
    heartbeat_on_signal(None)(sender=object())
    assert not path.exists()
    heartbeat_on_signal(path)(sender=object())
    assert check(path, 5).alive


def test_beat_touches_the_file_on_every_tick_and_ticks_often_enough(tmp_path, monkeypatch):
    path = tmp_path / "heartbeat"
    monkeypatch.setenv("SAHAB_HEARTBEAT_FILE", str(path))
    from controlplane.settings import get_settings

    get_settings.cache_clear()
    try:
        app = Celery("liveness-test", broker="memory://")
        app.conf.beat_schedule = {}
        scheduler = HeartbeatScheduler(app=app, schedule_filename=str(tmp_path / "schedule"), lazy=True)
        assert scheduler.max_interval <= BEAT_MAX_INTERVAL
        scheduler.setup_schedule()
        assert scheduler.tick() <= BEAT_MAX_INTERVAL
        assert check(path, 5).alive
    finally:
        get_settings.cache_clear()


def _alive(path: Path | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAHAB_")}
    env["PYTHONPATH"] = str(ROOT)
    if path is not None:
        env["SAHAB_HEARTBEAT_FILE"] = str(path)
    return subprocess.run(
        [sys.executable, "-m", "api.server", "alive", *args], capture_output=True, text=True, env=env, timeout=60
    )


@pytest.mark.processes
def test_the_probe_command_exits_0_only_for_a_recent_heartbeat(tmp_path):
    path = tmp_path / "heartbeat"
    missing = _alive(path)
    assert missing.returncode == 1 and "no heartbeat file" in missing.stderr
    touch(path)
    fresh = _alive(path, "--max-age", "60")
    assert fresh.returncode == 0 and "last heartbeat" in fresh.stdout
    os.utime(path, (path.stat().st_mtime - 300,) * 2)
    stale = _alive(path, "--max-age", "60")
    assert stale.returncode == 1 and "the loop is stuck" in stale.stderr
    unset = _alive(None)
    assert unset.returncode == 2 and "SAHAB_HEARTBEAT_FILE is not set" in unset.stderr
