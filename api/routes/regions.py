from __future__ import annotations

from pydantic import BaseModel, Field

from api.deps import DependenciesDep, SessionDep
from api.routes.common import authenticated_router
from controlplane.capacity import read_all

router = authenticated_router(prefix="/v1/regions", tags=["regions"])


class ResourceCapacity(BaseModel):
    raw_capacity: int
    overcommit: float
    capacity: int = Field(description="raw capacity times overcommit: the programmes' reserves and the general pool")
    reserved_programmes: int = Field(description="what the programmes reserve together (`programmes` shows each)")
    general: int = Field(description="the general pool: capacity less the programmes' reserves")
    granted: int = Field(description="everything granted: from the general pool and from the reserves")
    free: int = Field(description="free in the general pool")
    free_for_businesses: int = Field(description="free in the general pool for businesses (less the agencies' share)")


class ReserveCapacity(BaseModel):
    reserved: int
    granted: int
    free: int


class RegionOut(BaseModel):
    id: str
    name: str
    status: str
    agency_reserved_share: float
    resources: dict[str, ResourceCapacity]
    programmes: dict[str, dict[str, ReserveCapacity]] = Field(
        description="each programme's reserve here, per resource it reserves: kept out of the general pool"
    )


@router.get("", response_model=list[RegionOut])
def list_regions(session: SessionDep, deps: DependenciesDep) -> list[RegionOut]:
    """Regions with free capacity per resource (what can still be granted), from the running totals: the
    general pool per resource, and beside it each programme's reserve."""
    return [
        RegionOut(
            id=view.region.id,
            name=view.region.name,
            status=view.region.status.value,
            agency_reserved_share=view.region.agency_reserved_share,
            resources={
                resource.value: ResourceCapacity(
                    raw_capacity=r.raw_capacity,
                    overcommit=r.overcommit,
                    capacity=r.capacity,
                    reserved_programmes=r.reserved_programmes,
                    general=r.general,
                    granted=r.granted,
                    free=r.free,
                    free_for_businesses=r.free_for_businesses,
                )
                for resource, r in view.resources.items()
            },
            programmes={
                programme: {
                    resource.value: ReserveCapacity(reserved=c.reserved, granted=c.granted, free=c.free)
                    for resource, c in reserve.items()
                }
                for programme, reserve in view.reserves().items()
            },
        )
        for view in read_all(session, deps.catalogue)
    ]
