"""Granted capacity per region: the running totals, and the one read model over them.

What is granted in a region (over its live projects, for all organisations, for businesses in the
general pool, and per programme from its reserve) is kept in `region_totals`, moved by `move` in the same transaction as every grant,
change, decrease and decommission, while the region's row is locked (`lock_region`). Admission,
`GET /v1/regions` and `/metrics` read the totals and never sum the projects.

`check_totals` (run periodically by beat) recomputes them from the projects, repairs any
difference, counts it in `sahab_region_totals_repairs_total` and logs it as an error: it should
never find one.

What is free (for everyone, for businesses, for one programme, for one request) is computed here
once, from the catalogue's capacity arithmetic (`Region.effective_capacity`, `Region.general_capacity`,
`Region.limit_for`, `Region.reserved_for`), for admission, the regions route and the metrics.
Programme reserves are kept out of the general pool the way the agencies' share is kept from
businesses: a grant funded by a programme counts against that programme's reserve only, and every
other grant against the general pool only, both checked under the same region lock.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from controlplane.domain.regions import Catalogue, Region
from controlplane.domain.resources import Amounts, Resource, amounts
from controlplane.domain.states import OrganisationKind, ProjectState
from controlplane.observability.counters import TOTALS_REPAIRS
from controlplane.persistence.database import after_commit, transaction
from controlplane.persistence.models import Organisation, Project, RegionTotals

log = logging.getLogger(__name__)
BUSINESS = OrganisationKind.BUSINESS.value


# -- the totals ---------------------------------------------------------------------------------
@dataclass
class Sums:
    """Granted amounts summed over projects: all organisations; businesses in the general pool only;
    and per programme, the grants funded from its reserve (which are in `all`, never in `business`)."""

    all: Amounts = field(default_factory=amounts)
    business: Amounts = field(default_factory=amounts)
    programmes: dict[str, Amounts] = field(default_factory=dict)

    @classmethod
    def from_plain(
        cls,
        granted: Mapping[str, int] | None,
        business: Mapping[str, int] | None,
        programmes: Mapping[str, Mapping[str, int]] | None = None,
    ) -> Sums:
        return cls(
            _complete(granted),
            _complete(business),
            {programme: _complete(held) for programme, held in (programmes or {}).items()},
        )

    def add(
        self, granted: Mapping[Resource, int], organisation_kind: str, sign: int = 1, programme: str | None = None
    ) -> None:
        """`programme`: the grant is funded from that programme's reserve, not the general pool."""
        held = self.programmes.setdefault(programme, amounts()) if programme else None
        for resource, value in granted.items():
            self.all[resource] += sign * value
            if held is not None:
                held[resource] += sign * value
            elif organisation_kind == BUSINESS:
                self.business[resource] += sign * value

    def programme(self, programme: str) -> Amounts:
        return self.programmes.get(programme) or amounts()

    def in_programmes(self) -> Amounts:
        return {r: sum(held[r] for held in self.programmes.values()) for r in Resource}

    def all_plain(self) -> dict[str, int]:
        return {r.value: self.all[r] for r in Resource}

    def business_plain(self) -> dict[str, int]:
        return {r.value: self.business[r] for r in Resource}

    def programmes_plain(self) -> dict[str, dict[str, int]]:
        return {
            programme: {r.value: held[r] for r in Resource}
            for programme, held in sorted(self.programmes.items())
            if any(held.values())
        }

    def columns(self) -> dict[str, dict[str, Any]]:
        return {
            "granted": self.all_plain(),
            "granted_business": self.business_plain(),
            "granted_programmes": self.programmes_plain(),
        }


def _complete(plain: Mapping[str, int] | None) -> Amounts:
    # Stored totals are trusted sums (possibly wrong, never invalid input): no validation here.
    plain = plain or {}
    return {r: int(plain.get(r.value, 0)) for r in Resource}


def sum_grants(rows: Iterable[Any]) -> defaultdict[str, Sums]:
    """Per region, the sums of (region_id, granted, organisation kind[, programme]) rows of live projects
    (migration 0003 reads rows of a schema without programmes)."""
    sums: defaultdict[str, Sums] = defaultdict(Sums)
    for region_id, granted, kind, *funding in rows:
        sums[region_id].add(_complete(granted), kind, programme=funding[0] if funding else None)
    return sums


SAME_FUNDING = object()  # `move`: the project's funding does not change
_TOTALS = (RegionTotals.granted, RegionTotals.granted_business, RegionTotals.granted_programmes)


@dataclass
class LockedRegion:
    """A region's totals, read under its lock: the only handle `move` accepts."""

    region_id: str
    sums: Sums


def lock_region(session: Session, region_id: str) -> LockedRegion:
    """Lock the region's totals row until the transaction ends (FOR UPDATE on PostgreSQL; SQLite
    transactions already hold the write lock) and return the totals. Nothing references this row
    by foreign key, so inserting requests and projects in the same transaction never waits on it."""
    with session.no_autoflush:  # what is pending is written once, after the decision, in one flush
        row = session.execute(
            select(*_TOTALS).where(RegionTotals.region_id == region_id).with_for_update()
        ).one_or_none()
    if row is None:
        raise LookupError(f"region {region_id} has no totals row: ensure_regions was not run at start-up")
    return LockedRegion(region_id, Sums.from_plain(*row))  # type: ignore[arg-type]  # the _TOTALS columns, in order


def move(
    session: Session,
    locked: LockedRegion,
    organisation_kind: str,
    before: Mapping[str, int],
    after: Mapping[str, int],
    programme: str | None = None,
    *,
    to_programme: str | None | object = SAME_FUNDING,
) -> None:
    """Move the locked region's totals by a live project's change of grant from `before` to
    `after` (`{}` for a new or a decommissioned project), in the transaction that writes the
    project's new grant. `programme` is the project's funding (None: the general pool); a project
    whose funding changes (a programme ended) moves from `programme` to `to_programme`.
    Every change to a grant goes through here; one UPDATE statement."""
    target = programme if to_programme is SAME_FUNDING else to_programme
    assert target is None or isinstance(target, str)
    locked.sums.add(amounts(before), organisation_kind, sign=-1, programme=programme)
    locked.sums.add(amounts(after), organisation_kind, programme=target)
    session.execute(
        update(RegionTotals).where(RegionTotals.region_id == locked.region_id).values(**locked.sums.columns()),
        execution_options={"synchronize_session": False},
    )


def recompute(session: Session, region_id: str) -> Sums:
    """The totals summed from the projects: what the running totals must equal."""
    rows = session.execute(
        select(Project.region_id, Project.granted, Organisation.kind, Project.programme_id)
        .join(Organisation, Organisation.id == Project.organisation_id)
        .where(Project.region_id == region_id, Project.state != ProjectState.DECOMMISSIONED.value)
    )
    return sum_grants(rows)[region_id]


def check_totals(sessions: sessionmaker[Session]) -> dict[str, dict[str, dict[str, int]]]:
    """Recompute every region's totals from its projects and repair any difference.

    A first comparison runs without the lock, so admissions are not held up while the projects
    are summed; only a region that differs is summed again under its lock, where the difference
    is confirmed (or was a commit between the two reads), repaired, counted and logged.
    Returns {region: {resource: {"stored": n, "actual": m}}} for what was repaired."""
    with transaction(sessions) as session:
        stored = {
            row[0]: Sums.from_plain(*row[1:]) for row in session.execute(select(RegionTotals.region_id, *_TOTALS))
        }
        suspects = [
            region_id for region_id, sums in stored.items() if _differences(sums, recompute(session, region_id))
        ]
    for region_id in stored:
        TOTALS_REPAIRS.labels(region_id)  # the series exists (at 0) before anything is ever repaired
    repaired = {}
    for region_id in suspects:
        with transaction(sessions) as session:
            locked = lock_region(session, region_id)
            actual = recompute(session, region_id)
            differences = _differences(locked.sums, actual)
            if not differences:
                continue
            log.error(
                "region %s: running totals differed from the projects and were repaired "
                "(this is a bug: some change to a grant did not move the totals): %s",
                region_id,
                differences,
            )
            session.execute(update(RegionTotals).where(RegionTotals.region_id == region_id).values(**actual.columns()))
            after_commit(session, partial(_count_repair, region_id))
            repaired[region_id] = differences
    return repaired


def _differences(stored: Sums, actual: Sums) -> dict[str, dict[str, int]]:
    found = {}
    scopes = [("all", stored.all, actual.all), ("business", stored.business, actual.business)]
    scopes += [
        (f"programme {p}", stored.programme(p), actual.programme(p))
        for p in sorted(set(stored.programmes) | set(actual.programmes))
    ]
    for scope, have, want in scopes:
        for resource in Resource:
            if have[resource] != want[resource]:
                found[f"{scope}:{resource.value}"] = {"stored": have[resource], "actual": want[resource]}
    return found


# -- the read model: capacity, granted and free per region and resource --------------------------
@dataclass(frozen=True)
class ResourceCapacity:
    """One resource of one region. The capacity splits into the programmes' reserves and the general
    pool (`general`), and businesses hold at most `business_limit` of the general pool (the agencies'
    share is the rest). `granted` counts everything; `granted_programmes` what the reserves fund;
    `granted_business` the businesses' grants in the general pool."""

    raw_capacity: int
    overcommit: float
    capacity: int  # raw capacity times overcommit: the most that may ever be granted
    business_limit: int  # what businesses may hold together in the general pool: less the agencies' share
    granted: int
    granted_business: int
    reserved_programmes: int = 0  # what the programmes reserve together
    granted_programmes: int = 0  # what is granted from those reserves

    @property
    def general(self) -> int:
        return max(self.capacity - self.reserved_programmes, 0)

    @property
    def granted_general(self) -> int:
        return self.granted - self.granted_programmes

    @property
    def free(self) -> int:
        """Free in the general pool (a programme's free reserve is its own: `programme_room`)."""
        return max(self.general - self.granted_general, 0)

    @property
    def free_for_businesses(self) -> int:
        return max(min(self.business_limit - self.granted_business, self.general - self.granted_general), 0)

    def room(self, kind: OrganisationKind, holding: int = 0) -> list[tuple[str, int]]:
        """(scope, free) for each limit a request by `kind` funded by the general pool must fit,
        counting as free what the requesting project already `holding`s."""
        limits = [("region", max(self.general - self.granted_general + holding, 0))]
        if kind == OrganisationKind.BUSINESS:
            limits.append(("business share", max(self.business_limit - self.granted_business + holding, 0)))
        return limits


def programme_room(region: Region, sums: Sums, programme: str, resource: Resource, holding: int = 0) -> int:
    """Free in one programme's reserve in one region; its grants never spill into the general pool."""
    return max(region.reserved_for(programme)[resource] - sums.programme(programme)[resource] + holding, 0)


@dataclass(frozen=True)
class ReserveCapacity:
    """One resource of one programme's reserve in one region."""

    reserved: int
    granted: int
    free: int


@dataclass(frozen=True)
class RegionCapacity:
    region: Region
    resources: dict[Resource, ResourceCapacity]
    sums: Sums = field(default_factory=Sums)

    def reserves(self) -> dict[str, dict[Resource, ReserveCapacity]]:
        """Each programme's reserve in this region, beside the general pool (`resources`): the resources it
        reserves or has granted, with what is free of it (`programme_room`, the figure admission uses)."""
        found: dict[str, dict[Resource, ReserveCapacity]] = {}
        for programme in sorted(self.region.programme_reserves):
            reserved, granted = self.region.reserved_for(programme), self.sums.programme(programme)
            found[programme] = {
                resource: ReserveCapacity(
                    reserved[resource], granted[resource], programme_room(self.region, self.sums, programme, resource)
                )
                for resource in Resource
                if reserved[resource] or granted[resource]
            }
        return found


def region_capacity(region: Region, sums: Sums) -> RegionCapacity:
    raw, effective = region.raw_capacity(), region.effective_capacity()
    business_limit = region.limit_for(OrganisationKind.BUSINESS)
    reserved, in_programmes = region.reserved_for_programmes(), sums.in_programmes()
    return RegionCapacity(
        region,
        {
            resource: ResourceCapacity(
                raw_capacity=raw[resource],
                overcommit=region.overcommit.get(resource.value, 1.0),
                capacity=effective[resource],
                business_limit=business_limit[resource],
                granted=sums.all[resource],
                granted_business=sums.business[resource],
                reserved_programmes=reserved[resource],
                granted_programmes=in_programmes[resource],
            )
            for resource in Resource
        },
        sums,
    )


def read_all(session: Session, catalogue: Catalogue) -> list[RegionCapacity]:
    """Every catalogue region's capacity from one small query over the totals."""
    stored = {row[0]: Sums.from_plain(*row[1:]) for row in session.execute(select(RegionTotals.region_id, *_TOTALS))}
    return [region_capacity(region, stored.get(region.id) or Sums()) for region in catalogue.regions]


def _count_repair(region_id: str) -> None:
    TOTALS_REPAIRS.labels(region_id).inc()
