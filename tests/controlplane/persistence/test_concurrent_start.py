"""Several processes starting at once on PostgreSQL (`sahab-server api --workers N`, replicas):
migrations and the demo seed take turns instead of failing on each other's rows."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import func, select, text

from controlplane.clock import SystemClock
from controlplane.demo import DEMO_ORGANISATIONS, seed_demo
from controlplane.persistence.database import make_engine, make_session_factory, transaction
from controlplane.persistence.migrate import alembic_config
from controlplane.persistence.models import Organisation
from tests.support.concurrency import at_once

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[3]


def test_concurrent_migrations_and_demo_seeds_all_succeed(postgres, tmp_path):
    url = postgres.create_database()  # empty: every process finds work to do
    env = {**os.environ, "SAHAB_DATABASE_URL": url, "SAHAB_DATA_DIR": str(tmp_path)}
    migrations = [
        subprocess.Popen(
            [sys.executable, "-m", "api.server", "migrate"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for _ in range(3)
    ]
    outputs = [m.communicate(timeout=120)[0].decode() for m in migrations]
    assert [m.returncode for m in migrations] == [0, 0, 0], outputs
    engine = make_engine(url)
    sessions = make_session_factory(engine)

    def seed() -> None:
        with transaction(sessions) as session:
            seed_demo(session, SystemClock())

    assert at_once([seed] * 4) == []
    with transaction(sessions) as session:
        assert session.scalar(select(func.count()).select_from(Organisation)) == len(DEMO_ORGANISATIONS)
        assert (
            session.scalar(text("SELECT version_num FROM alembic_version"))
            == ScriptDirectory.from_config(alembic_config(url)).get_current_head()
        )
    engine.dispose()
    postgres.drop_database(url)
