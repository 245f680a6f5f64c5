"""The region catalogue: national data centres, their clouds and raw capacity.

Capacity, granted quota and usage are separate quantities (as in sapcc/limes):
the catalogue holds raw capacity and overcommit; what is granted lives on the
projects; what is used is metered from the clouds.
"""

from __future__ import annotations

import math
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from controlplane.domain.resources import Amounts, Resource, amounts, preset
from controlplane.domain.states import OrganisationKind, RegionStatus
from controlplane.errors import Detail, InvalidInput


class Region(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    name: str
    cloud: str = Field(description="cloud name in clouds.yaml that reaches this region's OpenStack")
    openstack_region: str = "RegionOne"
    domain_id: str = "default"
    external_network: str | None = None
    status: RegionStatus = RegionStatus.OPEN
    agency_reserved_share: float = Field(0.0, ge=0.0, lt=1.0)
    capacity: dict[str, int]
    overcommit: dict[str, float] = Field(default_factory=dict)
    # Capacity reserved per programme ({programme: amounts}), merged in from the programme catalogue
    # (controlplane.programmes.catalogue.with_reserves): out of the general pool, for that programme only.
    programme_reserves: dict[str, dict[str, int]] = Field(default_factory=dict)

    @field_validator("capacity")
    @classmethod
    def _capacity_is_complete(cls, value: dict[str, int]) -> dict[str, int]:
        amounts(value)  # unknown or negative names are refused
        return value

    @field_validator("overcommit")
    @classmethod
    def _overcommit_is_sane(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = set(value) - {r.value for r in Resource}
        if unknown:
            raise ValueError(f"unknown resource(s) in overcommit: {sorted(unknown)}")
        if any(ratio < 1.0 for ratio in value.values()):
            raise ValueError("overcommit ratios must be >= 1.0")
        return value

    @property
    def has_object_storage(self) -> bool:
        """Object storage (Swift) is offered where the catalogue gives it capacity."""
        return int(self.capacity.get(Resource.OBJECT_GIB.value, 0)) > 0

    def preset(self, name: str) -> Amounts:
        """A preset as this region offers it: no object storage where the region has none."""
        values = preset(name)
        if not self.has_object_storage:
            values[Resource.OBJECT_GIB] = 0
        return values

    def raw_capacity(self) -> Amounts:
        return amounts(self.capacity)

    def effective_capacity(self) -> Amounts:
        """Raw capacity times overcommit: the most that may ever be granted."""
        raw = self.raw_capacity()
        return {r: math.floor(raw[r] * self.overcommit.get(r.value, 1.0)) for r in Resource}

    def reserved_for(self, programme: str) -> Amounts:
        return amounts(self.programme_reserves.get(programme))

    def reserved_for_programmes(self) -> Amounts:
        return {r: sum(reserve.get(r.value, 0) for reserve in self.programme_reserves.values()) for r in Resource}

    def general_capacity(self) -> Amounts:
        """The pool everyone outside a programme's funding shares: the capacity less the programmes' reserves."""
        effective, reserved = self.effective_capacity(), self.reserved_for_programmes()
        return {r: max(effective[r] - reserved[r], 0) for r in Resource}

    def limit_for(self, kind: OrganisationKind) -> Amounts:
        """What organisations of this kind may hold together in the general pool: businesses never use
        the agencies' share of it, and no one outside a programme uses the programmes' reserves."""
        general = self.general_capacity()
        if kind == OrganisationKind.AGENCY:
            return general
        return {r: math.floor(v * (1.0 - self.agency_reserved_share)) for r, v in general.items()}


class Catalogue(BaseModel):
    regions: list[Region]

    def get(self, region_id: str) -> Region | None:
        return next((r for r in self.regions if r.id == region_id), None)


def load_catalogue(path: Path) -> Catalogue:
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as error:
        raise InvalidInput(
            Detail("cannot read region catalogue {path}: {error_strerror}", path=path, error_strerror=error.strerror)
        ) from error
    except yaml.YAMLError as error:
        raise InvalidInput(
            Detail("region catalogue {path} is not valid YAML: {error}", path=path, error=error)
        ) from error
    try:
        catalogue = Catalogue.model_validate(data)
    except ValidationError as error:
        raise InvalidInput(Detail("region catalogue {path} is invalid: {error}", path=path, error=error)) from error
    ids = [r.id for r in catalogue.regions]
    if len(ids) != len(set(ids)):
        raise InvalidInput(Detail("region catalogue {path} repeats a region id", path=path))
    return catalogue


DEMO_CATALOGUE = Path(__file__).resolve().parent.parent / "catalogue" / "demo-regions.yaml"
