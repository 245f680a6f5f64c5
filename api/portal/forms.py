"""The portal's forms: what a person typed becomes the same schemas the API validates, and what
is wrong is said next to the field, in the person's language."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from api.portal.words import N_
from api.routes.usage import DEFAULT_PERIOD, MAX_PERIOD, parse_time
from controlplane.access import require_organisation
from controlplane.capacity import read_all
from controlplane.dependencies import ServiceDependencies
from controlplane.domain.principal import Principal
from controlplane.domain.resources import PRESETS, Resource, amounts, as_plain
from controlplane.domain.states import OrganisationKind, ProjectState
from controlplane.errors import InvalidInput
from controlplane.persistence.models import Project
from controlplane.quota_requests import service as requests
from controlplane.quota_requests.schemas import ENVIRONMENT, QuotaRequestCreate

Translate = Callable[[str], str]
# The resources the dashboard and the forms show first; the others sit in a disclosure.
RESOURCES_SHOWN = (Resource.VCPUS, Resource.RAM_MIB, Resource.INSTANCES, Resource.VOLUME_GIB)
CUSTOM = "custom"


FIELD_MESSAGES = {
    "organisation_id": N_("Choose an organisation."),
    "region": N_("Choose a region."),
    "environment": N_("Use lower-case letters, digits and dashes, starting with a letter (at most 32)."),
    "preset": N_("Choose a size, or custom amounts."),
    "amounts": N_("Give at least one amount, as a whole number from 0 up."),
    "justification": N_("Explain what the quota is for, in 3 to 2000 characters."),
    "kind": N_("Choose agency or business."),
    "legal_name": N_("Enter the legal name, 2 to 200 characters."),
    "national_id": N_(
        "A business gives its ICE (15 digits); an agency its administration code (capitals, digits, dashes)."
    ),
    "contact_email": N_("Enter a valid e-mail address."),
}
AMOUNT_MESSAGE = N_("A whole number from 0 up.")


def request_form(form: dict[str, str], _: Translate) -> tuple[dict[str, Any], dict[str, str]]:
    """(values for QuotaRequestCreate, errors by field)."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {
        "organisation_id": form.get("organisation_id", "").strip(),
        "region": form.get("region", "").strip(),
        "environment": form.get("environment", "").strip(),
        "justification": form.get("justification", "").strip(),
    }
    for name in ("organisation_id", "region"):
        if not values[name]:
            errors[name] = _(FIELD_MESSAGES[name])
    if not ENVIRONMENT.match(values["environment"]):
        errors["environment"] = _(FIELD_MESSAGES["environment"])
    if not 3 <= len(values["justification"]) <= 2000:
        errors["justification"] = _(FIELD_MESSAGES["justification"])
    chosen = form.get("preset", "")
    if chosen not in PRESETS and chosen != CUSTOM:
        errors["preset"] = _(FIELD_MESSAGES["preset"])
    values["preset"] = chosen if chosen in PRESETS else None
    given: dict[str, int] = {}
    for resource in Resource:
        raw = form.get(f"amount_{resource.value}", "").strip()
        if chosen == CUSTOM and raw:
            if not raw.isdigit():
                errors[f"amount_{resource.value}"] = _(AMOUNT_MESSAGE)
            else:
                given[resource.value] = int(raw)
    if chosen == CUSTOM and not given and not any(k.startswith("amount_") for k in errors):
        errors["amounts"] = _(FIELD_MESSAGES["amounts"])
    values["amounts"] = given
    return values, errors


def field_errors(invalid: ValidationError, _: Translate) -> dict[str, str]:
    errors: dict[str, str] = {}
    for problem in invalid.errors():
        location = [str(part) for part in problem.get("loc", ())]
        name = location[0] if location else ""
        if not name:  # a rule across fields: the kind and the national ID, or no amount at all
            message = str(problem.get("msg", ""))
            name = "national_id" if "national_id" in message else "amounts"
        errors[name] = _(FIELD_MESSAGES.get(name, FIELD_MESSAGES["amounts"]))
    return errors


def preview_request(
    session: Session, deps: ServiceDependencies, principal: Principal, values: dict[str, Any]
) -> dict[str, Any]:
    """What the policy and admission would make of the request now, without writing anything: whether
    it is approved at once or waits for an approver, and the region's free capacity beside it."""
    data = QuotaRequestCreate(**values)
    organisation = require_organisation(session, principal, data.organisation_id)
    region = deps.region(data.region)
    kind = OrganisationKind(organisation.kind)
    requested = requests.requested_amounts(data, region)
    project = (
        session.query(Project)
        .filter(
            Project.organisation_id == organisation.id,
            Project.region_id == region.id,
            Project.environment == data.environment,
            Project.state != ProjectState.DECOMMISSIONED.value,
        )
        .one_or_none()
    )
    current = amounts(project.granted) if project else None
    decision = requests.policy_decision(session, deps, organisation, region, project, requested, current or amounts())
    programme = (
        deps.programmes.get(decision.funding.programme)
        if decision.by_programme and decision.funding.programme
        else None
    )
    view = next(v for v in read_all(session, deps.catalogue) if v.region.id == region.id)
    held = current or amounts()
    rows, short = [], []
    for resource in Resource:
        capacity = view.resources[resource]
        free = capacity.free_for_businesses if kind is OrganisationKind.BUSINESS else capacity.free
        needed = max(requested[resource] - held[resource], 0)
        rows.append({"resource": resource, "requested": requested[resource], "free": free, "fits": needed <= free})
        if needed > free:
            short.append(resource)
    try:
        requests.check_grantable(region, requested, held)
        within = True
    except InvalidInput:
        within = False
    return {
        "organisation": organisation,
        "kind": kind,
        "requested": as_plain(requested),
        "above": decision.above_envelope,
        "programme": programme,
        "short": short,
        "rows": rows,
        "change": project is not None,
        "verified": organisation.status == "verified",
        "within_capacity": within,
    }


def usage_period(query: dict[str, str], now: datetime, _: Translate) -> dict[str, Any]:
    """The period of the usage page, by the API's rules (GET /v1/usage): at most 366 days, from before to."""
    try:
        end = parse_time("to", query["to"]) if query.get("to") else now
        start = parse_time("from", query["from"]) if query.get("from") else end - DEFAULT_PERIOD
    except InvalidInput:
        raise InvalidInput(_("Enter the dates as YYYY-MM-DD."), parameter="from") from None
    if start >= end:
        raise InvalidInput(_("The start of the period must come before its end."), parameter="from")
    if end - start > MAX_PERIOD:
        raise InvalidInput(_("The period may be at most 366 days."), parameter="to")
    by = query.get("by") or "project"
    if by not in ("project", "region", "organisation"):
        raise InvalidInput(_("Group by project, region or organisation."), parameter="by")
    return {"start": start, "end": end, "by": by}
