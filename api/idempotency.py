"""Idempotency-Key on POST, scoped to the caller.

The first request with a key claims it in its own transaction and its answer
is stored once the route's transaction has committed. A replay (same key, same
body) returns that stored answer; the same key with another body is 422; a
duplicate that arrives while the first is still running is 409. A 5xx answer
releases the key so the client may retry. Records are kept for
idempotency_retention_hours, then purged by the next claim (at most once a
minute per process: one indexed DELETE).

The caller is stored as a SHA-256 of issuer and subject, so any subject fits the
column; the caller was verified by api.guard before the body was read.

An ASGI middleware rather than a route wrapper: the route's session commits
when the endpoint returns, and the answer must be stored after that commit.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import datetime, timedelta
from typing import Any

from fastapi.concurrency import run_in_threadpool
from sqlalchemy import delete, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.guard import read_body, replay
from api.i18n import negotiate
from api.problems import problem_for
from controlplane.domain.principal import Principal
from controlplane.errors import (
    DependencyUnavailable,
    Detail,
    IdempotencyKeyReused,
    IdempotencyRequestInProgress,
    InvalidInput,
    SahabError,
)
from controlplane.persistence.database import transaction
from controlplane.persistence.models import IdempotencyRecord

HEADER = "Idempotency-Key"
# A claim whose request never finished (a crashed process) may be taken over after this.
STALE_CLAIM = timedelta(minutes=10)
PURGE_INTERVAL = timedelta(minutes=1)


def caller_key(principal: Principal) -> str:
    return hashlib.sha256(principal.key.encode()).hexdigest()


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, *, retention: timedelta = timedelta(hours=24)) -> None:
        self.app = app
        self.retention = retention
        self._purged_at: datetime | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope) if scope["type"] == "http" else None
        key = headers.get(HEADER) if headers is not None else None
        if key is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        path, language = scope["path"], negotiate(headers.get("accept-language") if headers is not None else None)
        if not 1 <= len(key) <= 255:
            invalid = InvalidInput(Detail("{header} must be 1 to 255 characters", header=HEADER), parameter=HEADER)
            await problem_for(invalid, path, language)(scope, receive, send)
            return
        principal = scope.get("state", {}).get("principal")
        if principal is None:  # not an authenticated route: nothing to scope the key to
            await self.app(scope, receive, send)
            return
        caller = caller_key(principal)
        body = await read_body(receive)
        fingerprint = hashlib.sha256(b"POST %s\n%s" % (path.encode(), body)).hexdigest()
        runtime = scope["app"].state.runtime
        try:
            outcome = await run_in_threadpool(self._claim, runtime, caller, key, fingerprint)
        except (OperationalError, InterfaceError):  # the database is away: nothing was claimed
            unavailable = DependencyUnavailable(Detail("the database is unavailable; retry later"))
            await problem_for(unavailable, path, language)(scope, receive, send)
            return
        if isinstance(outcome, SahabError):
            await problem_for(outcome, path, language)(scope, receive, send)
            return
        if isinstance(outcome, Response):
            await outcome(scope, receive, send)
            return

        answer: dict[str, Any] = {"status": 500, "headers": [], "body": bytearray()}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer["status"], answer["headers"] = message["status"], message.get("headers", [])
            elif message["type"] == "http.response.body":
                answer["body"].extend(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, replay(body, receive), capture)
        finally:
            if answer["status"] >= 500:
                await _release_soon(runtime, caller, key)
            else:
                content_type = Headers(raw=answer["headers"]).get("content-type")
                await run_in_threadpool(
                    _store, runtime, caller, key, answer["status"], bytes(answer["body"]), content_type
                )

    def _claim(self, runtime: Any, caller: str, key: str, fingerprint: str) -> Response | SahabError | None:
        now = runtime.deps.clock.now()
        with transaction(runtime.sessions) as session:
            if self._purged_at is None or now - self._purged_at >= PURGE_INTERVAL:
                self._purged_at = now
                purge(session, now - self.retention)
            return _claim(session, now, caller, key, fingerprint)


def purge(session: Session, before: datetime) -> int:
    """Delete the records first used before `before`; how many were deleted."""
    result = session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < before))
    return int(getattr(result, "rowcount", 0) or 0)


def _claim(session: Session, now: datetime, caller: str, key: str, fingerprint: str) -> Response | SahabError | None:
    # One statement in the usual case (a new key). A concurrent duplicate's insert makes this one
    # wait for it to end, and then find its record below.
    claimed = session.execute(
        _insert(session)
        .values(caller=caller, key=key, fingerprint=fingerprint, created_at=now)
        .on_conflict_do_nothing()
        .returning(IdempotencyRecord.key)
    ).first()
    if claimed is not None:
        return None
    record = session.get(IdempotencyRecord, (caller, key), with_for_update=True)
    if record is None:  # its request ended in 5xx and released the key meanwhile
        return IdempotencyRequestInProgress(
            Detail("a request with {header} {key!r} is still in progress; retry later", header=HEADER, key=key)
        )
    if record.fingerprint != fingerprint:
        return IdempotencyKeyReused(
            Detail("{header} {key!r} was already used with a different request", header=HEADER, key=key)
        )
    if record.status_code is None:
        if record.created_at < now - STALE_CLAIM:
            record.created_at = now
            return None
        return IdempotencyRequestInProgress(
            Detail("a request with {header} {key!r} is still in progress; retry later", header=HEADER, key=key)
        )
    return Response(
        content=record.response_body or "",
        status_code=record.status_code,
        media_type=record.response_type,
        headers={"Idempotent-Replayed": "true"},
    )


def _insert(session: Session) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql_insert(IdempotencyRecord)
    return sqlite_insert(IdempotencyRecord)


def _store(runtime: Any, caller: str, key: str, status: int, body: bytes, content_type: str | None) -> None:
    with transaction(runtime.sessions) as session:
        session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.caller == caller, IdempotencyRecord.key == key)
            .values(status_code=status, response_body=body.decode(), response_type=content_type)
        )


_releasing: set[asyncio.Task[None]] = set()


async def _release_soon(runtime: Any, caller: str, key: str) -> None:
    """Release the key now or, when the database is away (the usual cause of a 5xx), as soon as it
    is back: otherwise the client's retry would be told "in progress" until the claim is stale."""
    try:
        await run_in_threadpool(_release, runtime, caller, key)
    except (OperationalError, InterfaceError):
        task = asyncio.get_running_loop().create_task(_release_when_back(runtime, caller, key))
        _releasing.add(task)
        task.add_done_callback(_releasing.discard)


async def _release_when_back(runtime: Any, caller: str, key: str) -> None:
    for _ in range(int(STALE_CLAIM.total_seconds())):
        await asyncio.sleep(1)
        try:
            await run_in_threadpool(_release, runtime, caller, key)
            return
        except (OperationalError, InterfaceError):
            continue


def _release(runtime: Any, caller: str, key: str) -> None:
    with transaction(runtime.sessions) as session:
        record = session.get(IdempotencyRecord, (caller, key))
        if record is not None and record.status_code is None:
            session.delete(record)
