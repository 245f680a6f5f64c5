"""The project users' credentials: captured by the worker when an operation ends, sealed
in the database, opened for the organisation's admins. The API reads them here and never
asks a provisioner (so the API process never loads the Pulumi engine).

Sealing is Fernet (AES-128-CBC + HMAC-SHA256) through MultiFernet: the first key of
SAHAB_CREDENTIALS_KEYS seals, every key opens. Rotation: put a new key first, keep the
old ones, run `python -m controlplane.projects.credentials reseal`, then drop the old keys.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy.orm import Session, sessionmaker

from controlplane.contract import TenantOutputs
from controlplane.errors import CredentialsUnreadable, Detail
from controlplane.persistence.database import make_engine, make_session_factory, transaction
from controlplane.persistence.models import ProjectCredentials
from controlplane.ports import Clock
from controlplane.projects import repository
from controlplane.settings import Settings, get_settings

KEY_FILE = "credentials.key"


class CredentialVault:
    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("at least one credentials key is needed")
        try:
            self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])
        except ValueError as error:
            raise ValueError(
                f"SAHAB_CREDENTIALS_KEYS: each key must be 32 url-safe base64-encoded bytes "
                f"(Fernet.generate_key()): {error}"
            ) from None

    @classmethod
    def from_settings(cls, settings: Settings) -> CredentialVault:
        return cls(settings.credentials_keys or [local_key(settings.data_dir, KEY_FILE)])

    def seal(self, entry: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(entry, sort_keys=True).encode()).decode()

    def open(self, sealed: str) -> dict[str, Any]:
        try:
            return dict(json.loads(self._fernet.decrypt(sealed.encode())))
        except InvalidToken:
            raise CredentialsUnreadable(
                Detail(
                    "the stored credentials were sealed with a key SAHAB_CREDENTIALS_KEYS no longer lists; put that "
                    "key back (after the new one) and reseal"
                )
            ) from None

    def reseal(self, sealed: str) -> str:
        """The same secret sealed with the first key (MultiFernet.rotate)."""
        return self._fernet.rotate(sealed.encode()).decode()


def local_key(data_dir: Path, name: str) -> str:
    """The embedded default: a Fernet key made once and kept beside the database in `name`, readable by its owner only.
    Workers forked at once race to make it: each writes a whole key to a file of its own, and a hard
    link publishes it, so the key appears complete or not at all and the first one wins."""
    path = data_dir / name
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, temporary = tempfile.mkstemp(prefix=f".{name}.", dir=data_dir)  # O_EXCL, 0600
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(Fernet.generate_key().decode())
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(temporary, path)
            except FileExistsError:
                pass  # another process published its key first: use that one
        finally:
            os.unlink(temporary)
    return path.read_text().strip()


def clouds_entry(outputs: TenantOutputs, domain_id: str) -> dict[str, Any]:
    """The project user's clouds.yaml entry; with object storage, an `s3` section (openstacksdk
    ignores keys it does not know) for S3 clients: endpoint, keys and the SigV4 region."""
    entry: dict[str, Any] = {
        "auth": {
            "auth_url": outputs.auth_url,
            "username": outputs.user_name,
            "password": outputs.password,
            "project_id": outputs.openstack_project_id,
            "user_domain_id": domain_id,
        },
        "region_name": outputs.region,
        "interface": "public",
        "identity_api_version": 3,
    }
    if outputs.s3_access_key and outputs.s3_secret_key:
        entry["s3"] = {
            "endpoint": outputs.s3_endpoint,
            "access_key": outputs.s3_access_key,
            "secret_key": outputs.s3_secret_key,
            "region": outputs.region,
        }
    return entry


def store(
    session: Session, vault: CredentialVault, clock: Clock, project_id: str, outputs: TenantOutputs, domain_id: str
) -> None:
    if not outputs.password:
        return  # nothing to keep (a provisioner that reports no secret)
    sealed = vault.seal(clouds_entry(outputs, domain_id))
    row = repository.credentials(session, project_id)
    if row is None:
        repository.add_credentials(
            session, ProjectCredentials(project_id=project_id, sealed=sealed, captured_at=clock.now())
        )
    else:
        row.sealed, row.captured_at = sealed, clock.now()


def read(session: Session, vault: CredentialVault, project_id: str) -> dict[str, Any] | None:
    row = repository.credentials(session, project_id)
    return vault.open(row.sealed) if row is not None else None


def stored_password(session: Session, vault: CredentialVault, project_id: str) -> str | None:
    entry = read(session, vault, project_id)
    return entry["auth"]["password"] if entry else None


def forget(session: Session, project_id: str) -> None:
    repository.forget_credentials(session, project_id)


def reseal_all(sessions: sessionmaker[Session], vault: CredentialVault, batch: int = 500) -> int:
    """Reseal every stored entry with the first key, in batches; returns how many."""
    done, after = 0, ""
    while True:
        with transaction(sessions) as session:
            rows = repository.credentials_after(session, after, batch)
            for row in rows:
                row.sealed = vault.reseal(row.sealed)
        if not rows:
            return done
        done += len(rows)
        after = rows[-1].project_id


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m controlplane.projects.credentials reseal`: after a new key was put first."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args != ["reseal"]:
        print("usage: python -m controlplane.projects.credentials reseal", file=sys.stderr)
        return 2
    settings = get_settings()
    engine = make_engine(settings.database_url)
    try:
        count = reseal_all(make_session_factory(engine), CredentialVault.from_settings(settings))
    finally:
        engine.dispose()
    print(f"resealed {count} credentials with the first key of SAHAB_CREDENTIALS_KEYS")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
