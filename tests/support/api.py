"""Helpers of the API tests: requests made over HTTP, and the factories' rows for the app's runtime."""

from __future__ import annotations

from typing import Any

from controlplane.persistence.database import transaction
from tests import factories


def create_request(client: Any, headers: dict[str, str], org_id: str, env: str = "prod", **body: Any) -> dict[str, Any]:
    payload = {
        "organisation_id": org_id,
        "region": "rabat-1",
        "environment": env,
        "preset": "small",
        "justification": "test workload",
        **body,
    }
    response = client.post("/v1/quota-requests", headers=headers, json=payload)
    assert response.status_code == 201, response.text
    return response.json()


def make_active(runtime: Any, request_id: str, *, credentials: bool = False) -> str:
    """Provision an approved request's project, as a worker would (factories.active_project); with
    `credentials`, its user's credentials are sealed as the workflow seals them."""
    vault = runtime.vault if credentials else None
    with transaction(runtime.sessions) as session:
        return factories.active_project(session, deps=runtime.deps, request_id=request_id, vault=vault).id


def active_project(client: Any, runtime: Any, issuer: Any, who: str, env: str = "prod") -> tuple[str, str]:
    """An organisation administered by `who` and its active project, asked for over HTTP."""
    org = org_with_admin(runtime, who)
    request = create_request(client, issuer.headers(who), org, env=env)
    return org, make_active(runtime, request["id"])


def org_with_admin(runtime: Any, admin: str, **kwargs: Any) -> str:
    with transaction(runtime.sessions) as session:
        return factories.organisation(session, admin=admin, **kwargs).id
