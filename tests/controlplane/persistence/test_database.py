"""The embedded database holds webhook secrets: its directory and files are private whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from controlplane.composition import build_api
from controlplane.persistence.database import make_engine
from controlplane.persistence.migrate import upgrade
from controlplane.settings import Settings
from tests.support.fakes import RecordingQueue


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_data_directory_and_the_sqlite_files_are_private(tmp_path, umask_022):
    data_dir = tmp_path / "state" / "sahab"
    settings = Settings(
        data_dir=data_dir, oidc_issuer="http://127.0.0.1:9/idp", broker_url="memory://", demo_accounts=False
    )
    upgrade(settings.database_url)
    runtime = build_api(settings, queue=RecordingQueue())
    with runtime.engine.begin() as connection:  # a write, so the WAL and shared-memory files exist
        connection.execute(text("CREATE TABLE probe (x INTEGER)"))
        connection.execute(text("INSERT INTO probe VALUES (1)"))
        files = sorted(p.name for p in data_dir.iterdir() if p.name.startswith("sahab.db"))
        assert files == ["sahab.db", "sahab.db-shm", "sahab.db-wal"]
        for name in files:
            assert mode(data_dir / name) == 0o600, name
    runtime.engine.dispose()
    assert mode(data_dir) == 0o700
    assert mode(data_dir.parent) == 0o755  # parents are made as usual


def test_a_database_file_made_world_readable_by_an_older_version_is_tightened(tmp_path, umask_022):
    database = tmp_path / "sahab.db"
    database.touch(mode=0o644)
    make_engine(f"sqlite:///{database}").dispose()
    assert mode(database) == 0o600


def test_an_existing_data_directory_is_left_as_the_operator_made_it(tmp_path, umask_022):
    data_dir = tmp_path / "shared"
    data_dir.mkdir(mode=0o750)
    make_engine(f"sqlite:///{data_dir / 'sahab.db'}").dispose()
    assert mode(data_dir) == 0o750 and mode(data_dir / "sahab.db") == 0o600
