from __future__ import annotations

from typing import Any

from controlplane.domain.states import ProjectState
from controlplane.persistence.database import transaction
from controlplane.persistence.models import Project, QuotaRequest
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


def make_active(runtime: Any, request_id: str) -> str:
    """Mark an approved request's project as provisioned, as a worker would."""
    with transaction(runtime.sessions) as session:
        request = session.get_one(QuotaRequest, request_id)
        project = session.get_one(Project, request.project_id)
        request.state = "active"
        project.state = ProjectState.ACTIVE.value
        return project.id


def org_with_admin(runtime: Any, admin: str, **kwargs: Any) -> str:
    with transaction(runtime.sessions) as session:
        return factories.organisation(session, admin=admin, **kwargs).id
