"""Engines and sessions.

SQLite is the embedded default: every transaction starts with BEGIN IMMEDIATE so
that a check-then-reserve (admission) is serialised exactly as a row lock does
on PostgreSQL. Work to do after a commit (sending Celery tasks) is queued on the
session and runs only once the transaction has committed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

_AFTER_COMMIT = "sahab_after_commit"
log = logging.getLogger(__name__)


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        database = url.split("///", 1)[-1]
        if database and database != ":memory:" and url != "sqlite://":
            private_sqlite_file(Path(database))
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, **kwargs)


def private_directory(path: Path) -> None:
    """Create `path` (the data directory) 0700 if it does not exist; an existing one is left as the
    operator made it. Parents are created as usual."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:  # another process made it first
        return
    path.chmod(0o700)  # mkdir's mode is masked by the umask


def private_sqlite_file(path: Path) -> None:
    """The database holds webhook secrets: its directory is created 0700 and the file 0600 whatever
    the umask. SQLite gives its -wal and -shm files the main file's mode, so they are 0600 too."""
    private_directory(path.parent)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(descriptor, 0o600)  # also tightens a file an older version created 0644
    finally:
        os.close(descriptor)
    for suffix in ("-wal", "-shm", "-journal"):
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            companion.chmod(0o600)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event emit BEGIN itself instead of pysqlite's deferred BEGIN.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin_immediate(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def ping(engine: Engine) -> None:
    """Raise unless the database answers a trivial query (readiness)."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def after_commit(session: Session, action: Callable[[], None]) -> None:
    """Run `action` once the session's current transaction commits; drop it on rollback."""
    session.info.setdefault(_AFTER_COMMIT, []).append(action)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    if session.get_nested_transaction() is not None:
        return  # a savepoint was released: the transaction itself has not committed yet
    actions = session.info.pop(_AFTER_COMMIT, [])
    for action in actions:
        try:
            action()
        except Exception:
            # The change is committed: failing the caller now would report an error for work that
            # was done. The work itself is in the database, where the reconciler finds it.
            log.exception(
                "an action after commit failed (e.g. the broker is down); the reconciler will pick the work up"
            )


@contextmanager
def savepoint(session: Session) -> Iterator[None]:
    """A nested transaction: on an exception its writes are rolled back, and so are the actions
    it queued to run after commit; the exception goes on."""
    actions = session.info.setdefault(_AFTER_COMMIT, [])
    mark = len(actions)
    try:
        with session.begin_nested():
            yield
    except BaseException:
        del actions[mark:]
        raise


@event.listens_for(Session, "after_rollback")
def _drop_after_commit(session: Session) -> None:
    session.info.pop(_AFTER_COMMIT, None)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A unit of work for workers and scripts: commit on success, roll back on error."""
    with factory() as session:
        with session.begin():
            yield session
