"""Typed dependencies: the session (the request owns its transaction) and the caller."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from controlplane.composition import ApiRoot
from controlplane.dependencies import ServiceDependencies
from controlplane.domain.principal import Principal
from controlplane.errors import AuthenticationFailed, Detail


def get_runtime(request: Request) -> ApiRoot:
    runtime: ApiRoot = request.app.state.runtime
    return runtime


def get_deps(request: Request) -> ServiceDependencies:
    return get_runtime(request).deps


def get_session(request: Request) -> Iterator[Session]:
    """Commit when the route returns normally, roll back on any error, before the response is sent."""
    with request.app.state.runtime.sessions() as session:
        with session.begin():
            yield session


def bearer_token(headers: Mapping[str, str]) -> str:
    header = headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationFailed(Detail("missing bearer token: send 'Authorization: Bearer <access token>'"))
    return token.strip()


async def authenticate(request: Request) -> Principal:
    """The caller. api.guard has usually verified the token already, before the body was read."""
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    token = bearer_token(request.headers)
    principal: Principal = await run_in_threadpool(request.app.state.verifier.verify, token)
    request.state.principal = principal
    return principal


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
CallerDep = Annotated[Principal, Depends(authenticate)]
DependenciesDep = Annotated[ServiceDependencies, Depends(get_deps)]
RuntimeDep = Annotated[ApiRoot, Depends(get_runtime)]
