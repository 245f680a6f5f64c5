"""The outermost middleware: who is calling is known before the body is read, the body is
bounded, and authenticated answers are never cached.

For a route that needs a token, the token is verified from the headers alone and the
Principal is left in the request state (the `authenticate` dependency finds it there): a
caller without a valid token gets 401 whatever the body holds, and costs no body read.
The body is then read into memory up to `max_body_bytes`; one byte more answers 413 at
once, whatever the Content-Length says or whether the body is chunked, so an oversized
body is never read whole. The inner app gets the buffered body replayed.
"""

from __future__ import annotations

from typing import Any

from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import authenticate, bearer_token
from api.i18n import negotiate
from api.problems import problem_for
from controlplane.errors import Detail, PayloadTooLarge, SahabError

NO_STORE = "no-store"


class RequestGuard:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self._authenticated: list[tuple[Any, set[str]]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        headers = Headers(scope=scope)
        language = negotiate(headers.get("accept-language"))
        authenticated = self._needs_token(scope)
        if authenticated:
            send = _no_store(send)
            try:
                principal = await run_in_threadpool(scope["app"].state.verifier.verify, bearer_token(headers))
            except SahabError as error:
                await problem_for(error, path, language)(scope, receive, send)
                return
            scope.setdefault("state", {})["principal"] = principal
        try:
            declared = headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_body_bytes:
                raise PayloadTooLarge(declared)
            body = await read_body(receive, self.max_body_bytes)
        except PayloadTooLarge:
            too_large = PayloadTooLarge(
                Detail(
                    "the request body is larger than {max_body_bytes} bytes (max_body_bytes)",
                    max_body_bytes=self.max_body_bytes,
                ),
                max_body_bytes=self.max_body_bytes,
            )
            await problem_for(too_large, path, language)(scope, receive, send)
            return
        except ClientDisconnect:
            return  # nobody is left to answer
        await self.app(scope, replay(body, receive), send)

    def _needs_token(self, scope: Scope) -> bool:
        """True when the route the request reaches depends on `authenticate` (every /v1 router)."""
        if self._authenticated is None:
            self._authenticated = [
                (route.path_regex, route.methods)
                for route in api_routes(scope["app"])
                if calls(route.dependant, authenticate)
            ]
        path, method = scope["path"], scope["method"]
        return any(method in methods and regex.match(path) for regex, methods in self._authenticated)


def api_routes(app: Any) -> list[Any]:
    """The app's API routes as they are served (with their routers' prefixes and dependencies)."""
    return [context for context in iter_route_contexts(app.routes) if isinstance(context.original_route, APIRoute)]


def calls(dependant: Any, function: Any) -> bool:
    """Whether a route's dependency tree calls `function`."""
    return any(d.call is function or calls(d, function) for d in dependant.dependencies)


async def read_body(receive: Receive, limit: int | None = None) -> bytes:
    """The whole request body. Past `limit` bytes PayloadTooLarge is raised and the rest is left unread."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if limit is not None and size > limit:
            raise PayloadTooLarge(Detail("more than {limit} bytes", limit=limit))
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the app a body already read, then the original stream (disconnects)."""
    delivered = False

    async def replayed() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


def _no_store(send: Send) -> Send:
    """Answers to authenticated routes carry callers' data and secrets (credentials, webhook secrets)."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            if "cache-control" not in headers:
                headers["Cache-Control"] = NO_STORE
        await send(message)

    return sending
