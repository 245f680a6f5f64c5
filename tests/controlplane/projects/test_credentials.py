"""Sealing the project users' credentials: rotation with MultiFernet, the embedded key file."""

from __future__ import annotations

import functools
import multiprocessing
import stat

import pytest
from cryptography.fernet import Fernet

from controlplane.contract import TenantOutputs
from controlplane.errors import CredentialsUnreadable
from controlplane.persistence.database import transaction
from controlplane.persistence.models import ProjectCredentials
from controlplane.projects import credentials
from controlplane.projects.credentials import CredentialVault
from controlplane.settings import Settings

ENTRY = {"auth": {"password": "s3cret-value", "username": "u"}, "region_name": "RegionOne"}
OUTPUTS = TenantOutputs(
    openstack_project_id="os-1", user_name="u", auth_url="http://k/v3", region="RegionOne", password="s3cret-value"
)


def test_a_new_key_first_seals_and_the_old_keys_still_open():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    sealed_before = CredentialVault([old]).seal(ENTRY)
    rotated = CredentialVault([new, old])
    assert rotated.open(sealed_before) == ENTRY
    resealed = rotated.reseal(sealed_before)
    assert CredentialVault([new]).open(resealed) == ENTRY
    with pytest.raises(CredentialsUnreadable, match="no longer lists"):
        CredentialVault([new]).open(sealed_before)
    assert "s3cret-value" not in sealed_before


def test_a_malformed_key_is_refused_with_the_setting_named():
    with pytest.raises(ValueError, match="SAHAB_CREDENTIALS_KEYS"):
        CredentialVault(["not-a-key"])


def test_the_embedded_key_is_made_once_and_readable_by_its_owner_only(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", database_url="sqlite://", broker_url="memory://")
    first = CredentialVault.from_settings(settings)
    key = tmp_path / "data" / credentials.KEY_FILE
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert CredentialVault.from_settings(settings).open(first.seal(ENTRY)) == ENTRY


def test_workers_forked_at_once_agree_on_one_whole_embedded_key(tmp_path):
    """Each process of a fresh worker pool makes the key at once: none may read it half-written."""
    context = multiprocessing.get_context("fork")
    with context.Pool(8) as pool:
        keys = pool.map(functools.partial(credentials.local_key, name=credentials.KEY_FILE), [tmp_path / "data"] * 64)
    assert len(set(keys)) == 1
    Fernet(keys[0].encode())  # a whole key
    assert [p.name for p in (tmp_path / "data").iterdir()] == [credentials.KEY_FILE]  # no file of a loser is left


def test_reseal_all_rewrites_every_row_with_the_first_key(sessions, clock):
    from tests import factories

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with transaction(sessions) as session:
        org = factories.organisation(session)
        for n in range(3):
            project = factories.active_project(session, org.id, environment=f"e{n}", created_at=clock.now())
            credentials.store(session, CredentialVault([old]), clock, project.id, OUTPUTS, "default")
    assert credentials.reseal_all(sessions, CredentialVault([new, old]), batch=2) == 3
    with transaction(sessions) as session:
        for row in session.query(ProjectCredentials):
            assert CredentialVault([new]).open(row.sealed)["auth"]["password"] == "s3cret-value"
