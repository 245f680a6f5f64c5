"""/readyz: anonymous probes get the status; why a dependency failed (its host and port) is for operators."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth.verifier import TokenVerifier
from controlplane.composition import build_api
from tests.support.ports import free_port


def test_ready_shows_no_addresses(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "broker": "ok"}}


@pytest.fixture
def broker_down(settings):
    """The API with a real Celery connection to a RabbitMQ port where nothing listens."""
    port = free_port()
    down = settings.model_copy(update={"broker_url": f"amqp://guest:guest@127.0.0.1:{port}//"})
    runtime = build_api(down)
    with TestClient(
        create_app(runtime=runtime, verifier=TokenVerifier.from_settings(down)), raise_server_exceptions=False
    ) as client:
        yield client, port
    runtime.engine.dispose()


def test_anonymous_callers_get_the_status_only(broker_down, issuer):
    client, port = broker_down
    for headers in ({}, issuer.headers("amina"), {"Authorization": "Bearer not-a-token"}):
        response = client.get("/readyz", headers=headers)
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["checks"] == {"database": "ok", "broker": "unavailable"}
        assert problem["detail"] == "broker: unavailable"
        assert str(port) not in response.text and "127.0.0.1" not in response.text


def test_operators_see_why(broker_down, issuer):
    client, port = broker_down
    response = client.get("/readyz", headers=issuer.headers("salma", roles=("operator",)))
    assert response.status_code == 503
    problem = response.json()
    assert problem["checks"]["database"] == "ok"
    assert problem["checks"]["broker"] not in ("ok", "unavailable")
    assert "broker:" in problem["detail"]
