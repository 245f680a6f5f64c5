"""The OpenAPI document lists every route's error answers as problem+json, and a bounded
schemathesis run against the app on a real SQLite database finds no 5xx and no answer
that contradicts the document."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from api.auth.verifier import TokenVerifier
from controlplane.composition import build_api
from controlplane.settings import Settings
from tests.support.api import org_with_admin
from tests.support.fakes import RecordingQueue

PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
UNAUTHENTICATED = {("/healthz", "get"), ("/readyz", "get"), ("/v1/meta", "get")}
EXAMPLES_PER_OPERATION = 25


@pytest.fixture
def app(sqlite_url, issuer, tmp_path) -> Iterator[object]:
    settings = Settings(
        database_url=sqlite_url,
        data_dir=tmp_path / "data",
        oidc_issuer=issuer.url,
        broker_url="memory://",
        demo_accounts=False,
    )
    runtime = build_api(settings, queue=RecordingQueue())
    org_with_admin(runtime, "salma")  # something to find behind the lists
    yield create_app(runtime=runtime, verifier=TokenVerifier.from_settings(settings))
    runtime.engine.dispose()


def operations(document: dict) -> Iterator[tuple[str, str, dict]]:
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def test_every_route_documents_its_problems(app):
    document = TestClient(app).get("/openapi.json").json()
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail"}
    assert problem.get("additionalProperties", True) is not False
    assert "HTTPValidationError" not in document["components"]["schemas"]
    counted = 0
    for path, method, operation in operations(document):
        responses = operation["responses"]
        expected = set() if (path, method) in UNAUTHENTICATED else {"401", "403", "404", "503"}
        if method in {"post", "put", "delete"}:
            expected |= {"400", "409", "413", "422"}
        if operation.get("parameters") or "requestBody" in operation:
            expected.add("422")
        assert expected <= set(responses), (method, path, sorted(responses))
        for status in expected:
            assert responses[status]["content"] == PROBLEM, (method, path, status)
        if (path, method) not in UNAUTHENTICATED:
            assert operation["security"] == [{"bearer": []}]
        counted += 1
    assert counted >= 25
    assert document["paths"]["/readyz"]["get"]["responses"]["503"]["content"] == PROBLEM


@pytest.mark.processes
def test_schemathesis_finds_no_server_error_and_no_answer_outside_the_document(app, issuer):
    """Generated requests (valid and invalid data) to every operation, as an approver and operator. Bounded by
    EXAMPLES_PER_OPERATION (about 1,400 requests; 40 s on the 2-core development machine)."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = issuer.headers("salma", roles=("approver", "operator"))
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
        response_headers_conformance,
    ]
    failures: list[str] = []
    statuses: list[int] = []
    tested = 0
    for result, mode in itertools.product(schema.get_all_operations(), GenerationMode):
        operation = result.ok()

        @given(case=operation.as_strategy(mode))
        @hypothesis_settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case) -> None:
            statuses.append(case.call_and_validate(headers=headers, checks=checks).status_code)

        try:
            run()
        except Unsatisfiable:  # an operation without parameters or body has no invalid input
            assert mode is GenerationMode.NEGATIVE, operation.label
        except Exception as error:  # noqa: BLE001 - every operation's failures are reported together
            failures.append(f"{operation.label} ({mode.value} data): {error}")
        tested += 1
    assert tested >= 50
    assert len(statuses) >= 10 * tested and any(200 <= s < 300 for s in statuses)  # the run reached the routes
    assert not failures, "\n\n".join(failures)
