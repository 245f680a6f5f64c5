"""What every service needs besides the session and the caller, built once per process."""

from __future__ import annotations

from dataclasses import dataclass, field

from controlplane.billing.billing import Billing
from controlplane.domain.regions import Catalogue, Region
from controlplane.errors import Detail, NotFound
from controlplane.ports import Clock, TaskQueue
from controlplane.programmes.catalogue import Programme, ProgrammeCatalogue


@dataclass(frozen=True)
class ApprovalPolicy:
    """Requests within their organisation kind's envelope (a preset name) are approved
    automatically when capacity allows; decreases always are. An organisation may have at
    most `max_pending_requests` waiting for a decision, so no one can flood the approvers."""

    envelope: dict[str, str]
    max_pending_requests: int = 10


@dataclass
class ServiceDependencies:
    """The services' shared dependencies (passed as `deps`): the catalogue and the programmes, the
    clock and task queue ports, the approval policy and billing. Built by controlplane.composition."""

    catalogue: Catalogue
    clock: Clock
    queue: TaskQueue
    policy: ApprovalPolicy
    # Prices and budgets (controlplane.billing); None: no estimates and no budget checks (unit tests).
    billing: Billing | None = None
    # The programmes offered; their reserves are already merged into `catalogue`'s regions (with_reserves).
    programmes: ProgrammeCatalogue = field(default_factory=ProgrammeCatalogue)

    def programme(self, programme_id: str) -> Programme:
        programme = self.programmes.get(programme_id)
        if programme is None:
            known = ", ".join(p.id for p in self.programmes.programmes) or "none"
            raise NotFound(
                Detail(
                    "programme {programme_id} not found; known programmes: {known}",
                    programme_id=programme_id,
                    known=known,
                )
            )
        return programme

    def region(self, region_id: str) -> Region:
        region = self.catalogue.get(region_id)
        if region is None:
            known = ", ".join(r.id for r in self.catalogue.regions)
            raise NotFound(
                Detail("region {region_id} not found; known regions: {known}", region_id=region_id, known=known)
            )
        return region
