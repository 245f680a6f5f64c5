from __future__ import annotations

from pydantic import BaseModel

from api.deps import CoreDep, SessionDep
from api.routes.common import authenticated_router
from controlplane.capacity import read_all

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
    """Regions with free capacity per resource (what can still be granted), from the running totals."""
    return [
        RegionOut(
            id=view.region.id, name=view.region.name, status=view.region.status.value,
            agency_reserved_share=view.region.agency_reserved_share,
            resources={
                resource.value: ResourceCapacity(
                    raw_capacity=r.raw_capacity, overcommit=r.overcommit, capacity=r.capacity,
                    granted=r.granted, free=r.free, free_for_businesses=r.free_for_businesses,
                ) for resource, r in view.resources.items()
            },
        ) for view in read_all(session, core.catalogue)
    ]
