"""Migration 0006 on both real databases: existing organisations keep their identities, and
afterwards only verified ones must hold a national ID alone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from controlplane.persistence.database import make_engine
from controlplane.persistence.migrate import downgrade, upgrade

INSERT = text(
    "INSERT INTO organisations (id, kind, legal_name, national_id, contact_email, status, created_by, created_at) "
    "VALUES (:id, 'business', :id, :national_id, 'c@example.ma', :status, 'someone', :at)"
)


def add(engine, id: str, national_id: str, status: str) -> None:
    with engine.begin() as connection:
        connection.execute(INSERT, {"id": id, "national_id": national_id, "status": status, "at": datetime.now(UTC)})


def test_upgrade_keeps_organisations_and_lets_only_unverified_ones_share_an_id(database_url):
    downgrade(database_url, "0006-1")
    engine = make_engine(database_url)
    try:
        add(engine, "org_verified", "001000000000001", "verified")
        add(engine, "org_pending", "001000000000002", "pending_verification")
        with pytest.raises(IntegrityError):  # before: any second claim was refused
            add(engine, "org_squat_before", "001000000000001", "pending_verification")
        upgrade(database_url)
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM organisations")).scalar_one() == 2
        add(engine, "org_squat", "001000000000001", "pending_verification")
        add(engine, "org_other_claim", "001000000000002", "pending_verification")
        with pytest.raises(IntegrityError):
            add(engine, "org_second_holder", "001000000000001", "verified")
    finally:
        engine.dispose()
