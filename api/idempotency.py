"""Idempotency-Key on POST, scoped to the caller.

The first request with a key claims it in its own transaction and its response
is stored. A replay (same key, same body) returns that stored response; the
same key with another body is 422; a duplicate that arrives while the first is
still running is 409. A 5xx response releases the key so the client may retry.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from fastapi import Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute
from sqlalchemy.exc import IntegrityError

from api.deps import authenticate
from api.problems import problem, status_for
from controlplane.errors import IdempotencyKeyReused, IdempotencyRequestInProgress, SahabError
from controlplane.persistence.database import transaction
from controlplane.persistence.models import IdempotencyRecord

HEADER = "Idempotency-Key"
# A claim whose request never finished (a crashed process) may be taken over after this.
STALE_CLAIM = timedelta(minutes=10)
Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class IdempotentRoute(APIRoute):
    def get_route_handler(self) -> Handler:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            key = request.headers.get(HEADER)
            if request.method != "POST" or key is None:
                return await original(request)
            if not 1 <= len(key) <= 255:
                return problem(422, "invalid-input", "The request is not valid", f"{HEADER} must be 1 to 255 characters", request.url.path)
            try:
                principal = await authenticate(request)
            except SahabError:
                return await original(request)  # answers with the authentication problem
            body = await request.body()
            fingerprint = hashlib.sha256(b"%s %s\n%s" % (request.method.encode(), request.url.path.encode(), body)).hexdigest()
            runtime = request.app.state.runtime
            outcome = await run_in_threadpool(_claim, runtime, principal.key, key, fingerprint)
            if isinstance(outcome, Response):
                return outcome
            if isinstance(outcome, SahabError):
                status = 422 if isinstance(outcome, IdempotencyKeyReused) else 409
                return problem(status, outcome.code, outcome.title, outcome.detail, request.url.path)
            try:
                response = await original(request)
            except SahabError as error:  # stored like any answer, so a replay gets the same problem
                response = problem(status_for(error), error.code, error.title, error.detail, request.url.path, **error.extra)
            except BaseException:
                await run_in_threadpool(_release, runtime, principal.key, key)
                raise
            if response.status_code >= 500:
                await run_in_threadpool(_release, runtime, principal.key, key)
            else:
                await run_in_threadpool(_store, runtime, principal.key, key, response)
            return response

        return handler


def _claim(runtime: Any, caller: str, key: str, fingerprint: str) -> Response | SahabError | None:
    now = runtime.core.clock.now()
    try:
        with transaction(runtime.sessions) as session:
            session.add(IdempotencyRecord(caller=caller, key=key, fingerprint=fingerprint, created_at=now))
        return None
    except IntegrityError:
        pass
    with transaction(runtime.sessions) as session:
        record = session.get(IdempotencyRecord, (caller, key), with_for_update=True)
        if record is None:  # released between our insert and this read
            session.add(IdempotencyRecord(caller=caller, key=key, fingerprint=fingerprint, created_at=now))
            return None
        if record.fingerprint != fingerprint:
            return IdempotencyKeyReused(f"{HEADER} {key!r} was already used with a different request")
        if record.status_code is None:
            if record.created_at < now - STALE_CLAIM:
                record.created_at = now
                return None
            return IdempotencyRequestInProgress(f"a request with {HEADER} {key!r} is still in progress; retry later")
        return Response(
            content=record.response_body or b"", status_code=record.status_code,
            media_type=record.response_type, headers={"Idempotent-Replayed": "true"},
        )


def _store(runtime: Any, caller: str, key: str, response: Response) -> None:
    with transaction(runtime.sessions) as session:
        record = session.get(IdempotencyRecord, (caller, key), with_for_update=True)
        if record is not None:
            record.status_code = response.status_code
            record.response_body = bytes(response.body).decode()
            record.response_type = response.headers.get("content-type")


def _release(runtime: Any, caller: str, key: str) -> None:
    with transaction(runtime.sessions) as session:
        record = session.get(IdempotencyRecord, (caller, key))
        if record is not None and record.status_code is None:
            session.delete(record)
