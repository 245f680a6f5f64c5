"""The request guard: the caller is authenticated before the body is read, bodies are bounded
(413 without reading them whole, chunked or not), and authenticated answers are never cached."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth.verifier import TokenVerifier
from controlplane.persistence.database import transaction
from controlplane.persistence.models import Organisation
from tests.support.api import create_request, make_active, org_with_admin
from tests.support.identity import ServerThread

LIMIT = 64 * 1024
CHUNK = 16 * 1024


@pytest.fixture
def small_settings(settings):
    return settings.model_copy(update={"max_body_bytes": LIMIT})


@pytest.fixture
def guarded(runtime, small_settings) -> Iterator[TestClient]:
    """The API with a 64 KiB body limit."""
    runtime.settings = small_settings
    app = create_app(runtime=runtime, verifier=TokenVerifier.from_settings(small_settings))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def organisations(runtime) -> int:
    with transaction(runtime.sessions) as session:
        return session.query(Organisation).count()


BROKEN_JSON = b'{"legal_name": "Atlas", '


def test_broken_json_without_a_token_is_401_not_422(client):
    response = client.post("/v1/organisations", content=BROKEN_JSON, headers={"Content-Type": "application/json"})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "urn:sahab:problem:unauthenticated"


def test_broken_json_with_a_bad_token_is_401(client, issuer):
    token = issuer.token("amina", exp=1)
    response = client.post(
        "/v1/organisations",
        content=BROKEN_JSON,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 401 and "expired" in response.json()["detail"]


def test_broken_json_with_a_valid_token_is_422(client, issuer):
    response = client.post(
        "/v1/organisations",
        content=BROKEN_JSON,
        headers={**issuer.headers("amina"), "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["type"] == "urn:sahab:problem:invalid-input"


def test_a_body_past_the_limit_is_413_by_its_content_length(guarded, runtime, issuer):
    body = b'{"legal_name": "' + b"a" * LIMIT + b'"}'
    response = guarded.post(
        "/v1/organisations", content=body, headers={**issuer.headers("amina"), "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "urn:sahab:problem:payload-too-large"
    assert str(LIMIT) in problem["detail"] and problem["max_body_bytes"] == LIMIT
    assert organisations(runtime) == 0


def test_a_chunked_body_past_the_limit_is_413_without_being_read_whole(guarded, runtime, issuer):
    """At the ASGI level, a body of 32 MiB in 16 KiB messages with no Content-Length (chunked)."""
    received: list[int] = []
    answer: list[dict] = []

    async def receive() -> dict:
        received.append(CHUNK)
        return {"type": "http.request", "body": b"x" * CHUNK, "more_body": sum(received) < 32 * 1024 * 1024}

    async def send(message: dict) -> None:
        answer.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/organisations",
        "raw_path": b"/v1/organisations",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"sahab"),
            (b"content-type", b"application/json"),
            (b"transfer-encoding", b"chunked"),
            (b"authorization", issuer.headers("amina")["Authorization"].encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    asyncio.run(guarded.app(scope, receive, send))
    assert answer[0]["status"] == 413
    assert sum(received) <= LIMIT + CHUNK  # stopped at the limit, not at 32 MiB
    assert organisations(runtime) == 0


def test_a_body_within_the_limit_is_served(guarded, runtime, issuer):
    response = guarded.post(
        "/v1/organisations",
        headers=issuer.headers("amina"),
        json={
            "kind": "business",
            "legal_name": "Atlas SARL",
            "national_id": "001122334455667",
            "contact_email": "it@atlas.ma",
        },
    )
    assert response.status_code == 201, response.text
    assert organisations(runtime) == 1


def test_no_token_and_a_huge_body_is_401(guarded):
    response = guarded.post(
        "/v1/organisations", content=b"x" * (4 * LIMIT), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 401


def test_over_real_http_a_chunked_body_is_refused_before_its_end(runtime, small_settings, issuer):
    """A client that keeps sending gets its 413 while its body is still arriving."""
    runtime.settings = small_settings
    app = create_app(runtime=runtime, verifier=TokenVerifier.from_settings(small_settings))
    with ServerThread(app) as server, socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/organisations HTTP/1.1\r\nHost: sahab\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\nAuthorization: "
            + issuer.headers("amina")["Authorization"].encode()
            + b"\r\n\r\n"
        )
        chunk = b"%x\r\n%s\r\n" % (CHUNK, b"x" * CHUNK)
        for _ in range(2 * LIMIT // CHUNK):  # twice the limit, and never the final 0-chunk
            sock.sendall(chunk)
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"application/problem+json" in answer


def test_authenticated_answers_are_not_cached(client, runtime, issuer):
    org = org_with_admin(runtime, "amina")
    for path in ("/v1/regions", f"/v1/organisations/{org}", "/v1/organisations/org_missing"):
        response = client.get(path, headers=issuer.headers("amina"))
        assert response.headers["Cache-Control"] == "no-store", path
    assert client.get("/v1/regions").headers["Cache-Control"] == "no-store"  # the 401 too


def test_credentials_are_served_with_no_store(client, runtime, issuer):
    """The clouds.yaml holds the project user's password."""
    org = org_with_admin(runtime, "amina")
    request = create_request(client, issuer.headers("amina"), org)
    project = make_active(runtime, request["id"], credentials=True)  # sealed as the workflow seals them
    response = client.get(f"/v1/projects/{project}/credentials", headers=issuer.headers("amina"))
    assert response.status_code == 200, response.text
    assert "password" in response.text
    assert response.headers["Cache-Control"] == "no-store"
