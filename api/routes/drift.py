"""Drift between Sahab's grants and the clouds (from the last metering collection)."""

from __future__ import annotations

from api.deps import CallerDep, SessionDep
from api.routes.common import authenticated_router
from controlplane.metering import service
from controlplane.metering.schemas import DriftOut

router = authenticated_router(tags=["metering"])


@router.get("/v1/drift", response_model=list[DriftOut])
def drift(
    session: SessionDep, caller: CallerDep, organisation_id: str | None = None, region: str | None = None
) -> list[DriftOut]:
    """Quota changed outside Sahab, usage above quota, project missing on the cloud. Staff see every
    organisation; members see their organisations' projects only."""
    return [
        DriftOut.model_validate(item)
        for item in service.list_drift(session, caller, organisation_id=organisation_id, region=region)
    ]
