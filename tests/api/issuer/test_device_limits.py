"""Device-flow exhaustion: bounded fields, starts limited per client and per address,
slow_down only for the poller that polls too fast, expired grants purged, a start's cost independent of
how many grants are pending."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import event, func, insert, select

from api.issuer import store
from controlplane.persistence.database import make_engine
from controlplane.persistence.models import IssuerDeviceGrant
from tests.support import issuer_flows as flows


def client_from(issuer, address: str) -> httpx.Client:
    """An HTTP client whose connections come from another loopback address."""
    return httpx.Client(base_url=issuer.url, timeout=5, transport=httpx.HTTPTransport(local_address=address))


@contextmanager
def database(issuer) -> Iterator[object]:
    engine = make_engine(issuer.settings.database_url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "field, value, status",
    [
        ("scope", "openid " * 200_000, 413),  # the 1 MiB scope of the review: refused before it is parsed
        ("scope", "openid " * 40, 400),
        ("client_id", "x" * 65, 400),
    ],
)
def test_fields_are_bounded(issuer, field, value, status):
    response = issuer.http.post("/device_authorization", data={"client_id": "sahab-cli", field: value})
    assert (response.status_code, response.json()["error"]) == (status, "invalid_request")
    assert (
        "longer than" in response.json()["error_description"] or "larger than" in response.json()["error_description"]
    )


def test_unknown_scopes_and_repeated_parameters_are_refused(issuer):
    response = issuer.http.post("/device_authorization", data={"client_id": "sahab-cli", "scope": "openid everything"})
    assert (response.status_code, response.json()["error"]) == (400, "invalid_scope")
    response = issuer.http.post(
        "/device_authorization",
        content="client_id=sahab-cli&client_id=sahab-cli",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")
    with database(issuer) as engine, engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(IssuerDeviceGrant)) == 0


def test_starts_are_limited_per_address_without_slowing_anyone_else(serve_issuer):
    issuer = serve_issuer(issuer_device_starts_per_address=3, issuer_rate_window_seconds=60)
    waiting = flows.start_device(issuer.http)
    for _ in range(2):
        flows.start_device(issuer.http)
    refused = issuer.http.post("/device_authorization", data={"client_id": "sahab-cli"})
    assert refused.status_code == 429 and refused.json()["error"] == "too_many_requests"
    assert "from your address" in refused.json()["error_description"]
    assert 1 <= int(refused.headers["retry-after"]) <= 60

    # Sign-ins from another address, and the polls of grants already started, go on as before.
    with client_from(issuer, "127.0.0.2") as other:
        flows.start_device(other)
    assert flows.poll(issuer.http, waiting["device_code"]).json()["error"] == "authorization_pending"

    issuer.clock.advance(seconds=60)
    flows.start_device(issuer.http)


def test_starts_are_limited_per_client(serve_issuer):
    issuer = serve_issuer(issuer_device_starts_per_client=2, issuer_device_starts_per_address=100)
    flows.start_device(issuer.http)
    with client_from(issuer, "127.0.0.3") as other:
        flows.start_device(other)
        refused = other.post("/device_authorization", data={"client_id": "sahab-cli"})
    assert refused.status_code == 429 and "by client sahab-cli" in refused.json()["error_description"]


def test_slow_down_goes_only_to_the_poller_that_polls_too_fast(issuer):
    hasty, patient = flows.start_device(issuer.http), flows.start_device(issuer.http)
    assert flows.poll(issuer.http, hasty["device_code"]).json()["error"] == "authorization_pending"
    assert flows.poll(issuer.http, patient["device_code"]).json()["error"] == "authorization_pending"
    slowed = flows.poll(issuer.http, hasty["device_code"])
    assert (slowed.status_code, slowed.json()["error"], slowed.json()["interval"]) == (400, "slow_down", 7)
    issuer.clock.advance(seconds=2)
    assert flows.poll(issuer.http, patient["device_code"]).json()["error"] == "authorization_pending"
    # The hasty one now waits 7 s between polls: 6 s is still too soon (and makes it 12 s).
    issuer.clock.advance(seconds=4)
    assert flows.poll(issuer.http, hasty["device_code"]).json()["error"] == "slow_down"
    issuer.clock.advance(seconds=12)
    assert flows.poll(issuer.http, hasty["device_code"]).json()["error"] == "authorization_pending"


def test_expired_grants_are_purged(serve_issuer):
    issuer = serve_issuer(issuer_device_starts_per_address=1000)
    for _ in range(5):
        flows.start_device(issuer.http)
    issuer.clock.advance(seconds=store.DEVICE_CODE_SECONDS + store.EXPIRED_GRACE + 1)
    fresh = flows.start_device(issuer.http)
    with database(issuer) as engine, engine.connect() as connection:
        codes = connection.scalars(select(IssuerDeviceGrant.user_code)).all()
    assert codes == [store.normalise_user_code(fresh["user_code"])]


def test_a_start_costs_the_same_with_many_grants_pending(issuer):
    """The statements one start runs are the same with 0 and 20,000 pending grants, and each is a lookup
    by key or index (the query plans are compared in bench/issuer.py)."""
    with database(issuer) as engine:
        statements: list[str] = []

        def count(*args: object) -> None:
            statements.append(str(args[2]).split()[0])

        def one_start() -> list[str]:
            statements.clear()
            flows.start_device(issuer.http)
            return list(statements)

        # The issuer's own engine is inside the server; observe all engines of the process instead.
        from sqlalchemy.engine import Engine

        event.listen(Engine, "before_cursor_execute", count)
        try:
            empty = one_start()
            now = issuer.clock.now()
            with engine.begin() as connection:
                connection.execute(
                    insert(IssuerDeviceGrant),
                    [
                        {
                            "device_code_hash": f"{i:064x}",
                            "user_code": f"Q{i:07d}",
                            "client_id": "sahab-cli",
                            "scope": "openid",
                            "expires_at": now + timedelta(seconds=600),
                            "interval": 2,
                            "status": "pending",
                        }
                        for i in range(20_000)
                    ],
                )
            full = one_start()
        finally:
            event.remove(Engine, "before_cursor_execute", count)
    assert empty == full and len(full) <= 16, full
