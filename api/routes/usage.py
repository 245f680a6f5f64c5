from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from fastapi import Query

from api.deps import CallerDep, DependenciesDep, SessionDep
from api.routes.common import authenticated_router
from controlplane.errors import Detail, InvalidInput
from controlplane.metering.reports import usage_report
from controlplane.metering.schemas import UsageReportRow
from controlplane.projects import service as projects
from controlplane.projects.schemas import UsageOut

router = authenticated_router(prefix="/v1/usage", tags=["usage"])
DEFAULT_PERIOD = timedelta(days=30)
MAX_PERIOD = timedelta(days=366)


# Reports cover times Sahab can have measured; the bounds keep period arithmetic within datetime's range.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def parse_time(name: str, value: str) -> datetime:
    """ISO 8601 date or date-time between EARLIEST and LATEST; a value without an offset is UTC."""
    try:
        parsed = datetime.fromisoformat(value.strip())
        parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise InvalidInput(
            Detail(
                "{name}: {value!r} is not an ISO 8601 date or date-time between {earliest} and "
                "{latest} (e.g. 2026-11-01 or 2026-11-01T00:00:00Z)",
                name=name,
                value=value,
                earliest=EARLIEST.date(),
                latest=LATEST.date(),
            ),
            parameter=name,
        ) from None
    if not EARLIEST <= parsed < LATEST:
        raise InvalidInput(
            Detail(
                "{name}: {value!r} is outside {earliest} to {latest}",
                name=name,
                value=value,
                earliest=EARLIEST.date(),
                latest=LATEST.date(),
            ),
            parameter=name,
        )
    return parsed


@router.get("", response_model=list[UsageOut] | list[UsageReportRow], response_model_by_alias=True)
def usage(
    session: SessionDep,
    caller: CallerDep,
    deps: DependenciesDep,
    organisation_id: str | None = None,
    region: str | None = None,
    from_: str | None = Query(None, alias="from", description="ISO 8601 start of the period (default: `to` - 30 days)"),
    to: str | None = Query(None, description="ISO 8601 end of the period (default: now)"),
    by: Literal["project", "region", "organisation"] | None = Query(None, description="group the period report"),
) -> list[UsageOut] | list[UsageReportRow]:
    """Without `from`, `to` or `by`: granted quota and the last usage measured, per live project the
    caller may see. With any of them: a report over the period from the stored samples
    (vCPU-hours, RAM GiB-hours, volume GiB-hours, object GiB-hours, peak and average per resource, granted)."""
    if from_ is not None or to is not None or by is not None:
        now = deps.clock.now()
        end = parse_time("to", to) if to is not None else now
        start = parse_time("from", from_) if from_ is not None else end - DEFAULT_PERIOD
        if start >= end:
            raise InvalidInput(
                Detail("from ({start}) must be before to ({end})", start=start.isoformat(), end=end.isoformat()),
                parameter="from",
            )
        if end - start > MAX_PERIOD:
            raise InvalidInput(
                Detail(
                    "the period may be at most {max_days} days, got {days}",
                    max_days=MAX_PERIOD.days,
                    days=(end - start).days,
                ),
                parameter="to",
            )
        rows = usage_report(
            session,
            caller,
            start=start,
            end=end,
            now=now,
            by=by or "project",
            organisation_id=organisation_id,
            region=region,
        )
        return [UsageReportRow.model_validate(row) for row in rows]
    return [
        UsageOut(
            project_id=p.id,
            organisation_id=p.organisation_id,
            region_id=p.region_id,
            environment=p.environment,
            granted=p.granted,
            used=p.last_usage,
            measured_at=p.last_usage_at,
        )
        for p in projects.last_usage(session, caller, organisation_id=organisation_id, region=region)
    ]
