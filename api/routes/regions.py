from __future__ import annotations

from pydantic import BaseModel

from api.deps import CoreDep, SessionDep
from api.routes.common import authenticated_router
from controlplane.domain.resources import Resource
from controlplane.domain.states import OrganisationKind
from controlplane.quota_requests.admission import granted_in_region

router = authenticated_router(prefix="/v1/regions", tags=["regions"])


class ResourceCapacity(BaseModel):
    raw_capacity: int
    overcommit: float
    capacity: int
    granted: int
    free: int
    free_for_businesses: int


class RegionOut(BaseModel):
    id: str
    name: str
    status: str
    agency_reserved_share: float
    resources: dict[str, ResourceCapacity]


@router.get("", response_model=list[RegionOut])
def list_regions(session: SessionDep, core: CoreDep) -> list[RegionOut]:
    """Regions with free capacity per resource (what can still be granted)."""
    regions = []
    for region in core.catalogue.regions:
        total, business = granted_in_region(session, region.id)
        effective, raw = region.effective_capacity(), region.raw_capacity()
        business_limit = region.limit_for(OrganisationKind.BUSINESS)
        regions.append(RegionOut(
            id=region.id, name=region.name, status=region.status.value,
            agency_reserved_share=region.agency_reserved_share,
            resources={
                r.value: ResourceCapacity(
                    raw_capacity=raw[r], overcommit=region.overcommit.get(r.value, 1.0), capacity=effective[r],
                    granted=total[r], free=max(effective[r] - total[r], 0),
                    free_for_businesses=max(min(business_limit[r] - business[r], effective[r] - total[r]), 0),
                ) for r in Resource
            },
        ))
    return regions
