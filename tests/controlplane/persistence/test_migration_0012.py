"""Migration 0012 on both databases: down and up again, and its partial unique index holds one current
statement per organisation and month (a corrected one gives way to its replacement)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError

from controlplane.persistence.database import make_engine, make_session_factory, transaction
from controlplane.persistence.migrate import downgrade, upgrade
from controlplane.persistence.models import Statement, new_id
from tests import factories

NOW = datetime(2026, 4, 1, tzinfo=UTC)


def statement(organisation_id: str, state: str) -> Statement:
    return Statement(
        id=new_id("stm"),
        organisation_id=organisation_id,
        period="2026-03",
        kind="statement",
        state=state,
        currency="MAD",
        price_versions=[],
        lines=[],
        list_total="0",
        discount_total="0",
        total="0",
        computed_at=NOW,
        created_at=NOW,
    )


def test_down_and_up_and_one_current_statement(database_url, sessions):
    sessions.kw["bind"].dispose()
    downgrade(database_url, "0011")
    engine = make_engine(database_url)
    assert not {"statements", "statement_sequences", "budgets"} & set(inspect(engine).get_table_names())
    engine.dispose()
    upgrade(database_url)
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    with transaction(sessions) as session:
        organisation_id = factories.organisation(session).id
        session.add(statement(organisation_id, "corrected"))
        session.add(statement(organisation_id, "issued"))
    with pytest.raises(IntegrityError):
        with transaction(sessions) as session:
            session.add(statement(organisation_id, "draft"))
    engine.dispose()
