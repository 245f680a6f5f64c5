"""The portal's pages under /portal: sign-in, dashboard, requests, usage, credentials,
organisations, the approvers' queue and the operators' pages. Each page calls the services the
/v1 routes call, with the signed-in person's Principal."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import yaml
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError
from starlette.responses import JSONResponse, Response

from api.portal import i18n, words
from api.portal.forms import (
    RESOURCES_SHOWN,
    field_errors,
    preview_request,
    request_form,
    usage_period,
)
from api.portal.oidc import pkce_pair
from api.portal.sessions import SESSION_COOKIE, SIGNIN_COOKIE, PortalSession, SignIn, new_csrf
from api.portal.web import (
    PortalRoute,
    Visitor,
    form_of,
    new_nonce,
    portal_of,
    redirect,
    remember,
    render,
    safe_next,
    visitor,
)
from api.portal.words import N_
from controlplane.access import organisation_role, require_role
from controlplane.capacity import read_all
from controlplane.domain.resources import PRESETS, Resource
from controlplane.domain.states import TRANSITIONS, MemberRole, OrganisationStatus, PlatformRole, RequestState
from controlplane.errors import AuthenticationFailed, CredentialsPending, InvalidInput, NotFound, SahabError
from controlplane.metering import service as metering
from controlplane.metering.reports import bucket_size, usage_over_time, usage_report
from controlplane.organisations import service as organisations
from controlplane.organisations.schemas import MemberAdd, OrganisationCreate
from controlplane.persistence.database import transaction
from controlplane.persistence.models import Organisation
from controlplane.projects import credentials
from controlplane.projects import service as projects
from controlplane.quota_requests import service as requests
from controlplane.quota_requests.schemas import QuotaRequestCreate
from controlplane.webhooks import service as webhooks
from controlplane.webhooks.schemas import WebhookIn

router = APIRouter(prefix="/portal", route_class=PortalRoute, include_in_schema=False)
LIST_LIMIT = 200


def signed_in(request: Request, who: Visitor = Depends(visitor)) -> Visitor:
    return remember(request, who)


async def posted(request: Request, who: Visitor, handler: Callable[..., Response], *args: str) -> Response:
    """A form's answer: its CSRF token checked, then `handler(request, who, *args, form)` run off the event loop."""
    form = await form_of(request, who)
    return await run_in_threadpool(handler, request, who, *args, form)


# ---------------------------------------------------------------- sign-in, sign-out, language


@router.get("/signin")
async def signin(request: Request, next: str = "/portal") -> Response:
    portal = portal_of(request)
    verifier, challenge = pkce_pair()
    state, nonce = new_nonce(), new_nonce()
    url = await portal.oidc.authorization_url(
        state=state, challenge=challenge, nonce=nonce, locale=i18n.choose(request).code
    )
    response = redirect(url)
    portal.sealer.set_signin(
        response,
        SignIn(
            state=state,
            verifier=verifier,
            nonce=nonce,
            next=safe_next(next),
            started_at=portal.runtime.deps.clock.now().timestamp(),
        ),
    )
    return response


@router.get("/callback")
async def callback(request: Request, state: str = "", code: str = "", error: str = "") -> Response:
    portal = portal_of(request)
    pending = portal.sealer.signin(request.cookies.get(SIGNIN_COOKIE))
    if pending is None or not state or state != pending.state:
        return render(request, None, "error.html", status=400, kind="signin-state")
    if error or not code:
        return render(request, None, "error.html", status=401, kind="signin-refused")
    try:
        tokens = await portal.oidc.exchange(code, pending.verifier)
        principal = await run_in_threadpool(request.app.state.verifier.verify, tokens["access_token"])
    except AuthenticationFailed:
        return render(request, None, "error.html", status=401, kind="signin-refused")
    now = portal.runtime.deps.clock.now()
    session = PortalSession(
        subject=principal.subject,
        name=principal.label,
        access_token=tokens["access_token"],
        refresh_token=tokens.get("refresh_token"),
        ends_at=now.timestamp() + portal.runtime.settings.portal_session_max_seconds,
        csrf=new_csrf(),
    )
    response = redirect(pending.next)
    portal.sealer.set_session(response, session, now)
    portal.sealer.clear(response, SIGNIN_COOKIE)
    return response


@router.post("/signout")
async def signout(request: Request, who: Visitor = Depends(signed_in)) -> Response:
    await form_of(request, who)
    portal = portal_of(request)
    if who.session.refresh_token:
        await portal.oidc.revoke(who.session.refresh_token)
    response = redirect("/portal/signed-out")
    portal.sealer.clear(response, SESSION_COOKIE)
    return response


@router.get("/signed-out")
def signed_out(request: Request) -> Response:
    return render(request, None, "signed_out.html")


@router.get("/lang/{code}")
def choose_language(code: str, next: str = "/portal") -> Response:
    """The switcher: remembered for a year. A link, not a form: it changes nothing but the display."""
    if code not in i18n.LANGUAGES:
        raise NotFound(f"no language {code}")
    response = redirect(safe_next(next))
    response.set_cookie(i18n.LANG_COOKIE, code, max_age=365 * 86400, path="/portal", samesite="lax", httponly=True)
    return response


# ---------------------------------------------------------------- dashboard


@router.get("")
def dashboard(request: Request, who: Visitor = Depends(signed_in)) -> Response:
    runtime = portal_of(request).runtime
    principal = who.principal
    with transaction(runtime.sessions) as session:
        orgs = organisations.list_visible(session, principal, None, LIST_LIMIT).items
        admin_of = {o.id for o in orgs if organisation_role(session, principal, o.id) is MemberRole.ADMIN}
        live = projects.last_usage(session, principal)
        regions = read_all(session, runtime.deps.catalogue)
        recent = requests.list_visible(session, principal, cursor=None, limit=LIST_LIMIT).items
        alerts = [
            d
            for org_id in sorted(admin_of)
            for d in webhooks.list_deliveries(session, principal, org_id, None, LIST_LIMIT).items
        ]
        return render(
            request,
            who,
            "dashboard.html",
            organisations=orgs,
            admin_of=admin_of,
            projects=live,
            regions=regions,
            requests=list(reversed(recent))[:20],
            alerts=list(reversed(alerts))[:20],
            shown=RESOURCES_SHOWN,
        )


# ---------------------------------------------------------------- requests


def _request_page_data(session: Any, runtime: Any, who: Visitor) -> dict[str, Any]:
    principal = who.principal
    orgs = [
        o
        for o in organisations.list_visible(session, principal, None, LIST_LIMIT).items
        if organisation_role(session, principal, o.id) is not None
    ]
    return {
        "organisations": orgs,
        "regions": read_all(session, runtime.deps.catalogue),
        "presets": PRESETS,
        "envelope": runtime.deps.policy.envelope,
        "resources": list(Resource),
        "shown": RESOURCES_SHOWN,
    }


@router.get("/requests/new")
def new_request(request: Request, who: Visitor = Depends(signed_in)) -> Response:
    runtime = portal_of(request).runtime
    with transaction(runtime.sessions) as session:
        data = _request_page_data(session, runtime, who)
        values = {
            "preset": "small",
            "organisation_id": data["organisations"][0].id if data["organisations"] else "",
            "region": runtime.deps.catalogue.regions[0].id,
            "environment": "prod",
        }
        return render(request, who, "request_new.html", values=values, errors={}, preview=None, **data)


@router.post("/requests/new")
async def create_request(request: Request, who: Visitor = Depends(signed_in)) -> Response:
    return await posted(request, who, _create_request)


def _create_request(request: Request, who: Visitor, form: dict[str, str]) -> Response:
    runtime = portal_of(request).runtime
    values, errors = request_form(form, who.gettext)
    if form.get("action") == "preview" or errors:
        with transaction(runtime.sessions) as session:
            data = _request_page_data(session, runtime, who)
            preview = None if errors else preview_request(session, runtime.deps, who.principal, values)
            return render(
                request,
                who,
                "request_new.html",
                status=422 if errors else 200,
                values=form,
                errors=errors,
                preview=preview,
                **data,
            )
    try:
        data_in = QuotaRequestCreate(**values)
        with transaction(runtime.sessions) as session:
            created = requests.create(session, runtime.deps, who.principal, data_in)
            request_id = created.id
    except ValidationError as invalid:
        errors = field_errors(invalid, who.gettext)
    except NotFound:
        raise  # not the person's organisation, or no such region: a page of its own, as the API's 404
    except SahabError as refused:  # the rules of the core (capacity bounds, pending limit, not verified...)
        errors = {"form": refused}  # type: ignore[dict-item]  # the template words a core refusal itself
    if errors:
        with transaction(runtime.sessions) as session:
            data = _request_page_data(session, runtime, who)
            return render(
                request,
                who,
                "request_new.html",
                status=422 if "form" not in errors else 409,
                values=form,
                errors=errors,
                preview=None,
                **data,
            )
    return redirect(f"/portal/requests/{request_id}")


@router.get("/requests/{request_id}")
def show_request(request_id: str, request: Request, who: Visitor = Depends(signed_in)) -> Response:
    runtime = portal_of(request).runtime
    with transaction(runtime.sessions) as session:
        found = requests.get(session, who.principal, request_id)
        events = requests.events(session, who.principal, request_id)
        organisation = session.get_one(Organisation, found.organisation_id)
        role = organisation_role(session, who.principal, found.organisation_id)
        return render(
            request,
            who,
            "request.html",
            item=found,
            events=events,
            organisation=organisation,
            member_role=role,
            resources=list(Resource),
            can_cancel=RequestState.CANCELLED in TRANSITIONS[RequestState(found.state)],
        )


@router.get("/requests/{request_id}/progress")
def request_progress(request_id: str, request: Request, after: int = 0, who: Visitor = Depends(signed_in)) -> Response:
    """What the request page's script polls: the state and the events after `after`, as text in the
    person's language (the page works without it, showing what was there when it loaded)."""
    runtime = portal_of(request).runtime
    fmt = i18n.Formats(who.language)
    with transaction(runtime.sessions) as session:
        found = requests.get(session, who.principal, request_id)
        events = requests.events(session, who.principal, request_id, max(after, 0))
        environment = portal_of(request).environment(who.language)
        line: Any = environment.get_template("_event.html").module
        body = {
            "state": found.state,
            "state_label": who.gettext(words.STATES.get(found.state, found.state)),
            "reason": words.explain(who.gettext, found.reason),
            "final": found.state not in ACTIVE_STATES,
            "events": [{"id": e.id, "html": str(line.event(e, fmt, words.STATES, words.OPERATIONS))} for e in events],
        }
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


ACTIVE_STATES = {
    RequestState.SUBMITTED.value,
    RequestState.APPROVED.value,
    RequestState.PROVISIONING.value,
    RequestState.DECOMMISSIONING.value,
}


@router.post("/requests/{request_id}/{action}")
async def decide_request(request_id: str, action: str, request: Request, who: Visitor = Depends(signed_in)) -> Response:
    return await posted(request, who, _decide, request_id, action)


def _decide(request: Request, who: Visitor, request_id: str, action: str, form: dict[str, str]) -> Response:
    runtime = portal_of(request).runtime
    reason = form.get("reason", "").strip() or None
    back = safe_next(form.get("next")) if form.get("next") else f"/portal/requests/{request_id}"
    with transaction(runtime.sessions) as session:
        if action == "cancel":
            requests.cancel(session, runtime.deps, who.principal, request_id, reason)
        elif action == "retry":
            requests.retry(session, runtime.deps, who.principal, request_id)
        elif action == "approve":
            requests.approve(session, runtime.deps, who.principal, request_id, reason)
        elif action == "reject":
            if reason is None or len(reason) < 3:
                raise InvalidInput(who.gettext("Give a reason of at least 3 characters to reject a request."))
            requests.reject(session, runtime.deps, who.principal, request_id, reason)
        else:
            raise NotFound(f"no action {action}")
    return redirect(back)


# ---------------------------------------------------------------- credentials


@router.get("/projects/{project_id}/clouds.yaml")
def download_credentials(project_id: str, request: Request, who: Visitor = Depends(signed_in)) -> Response:
    """The same rules as GET /v1/projects/{id}/credentials: organisation admins only, once active."""
    runtime = portal_of(request).runtime
    with transaction(runtime.sessions) as session:
        project = projects.require_credentials_access(session, who.principal, project_id)
        entry = credentials.read(session, runtime.vault, project.id)
        if entry is None:
            runtime.deps.queue.capture_credentials(project.id)
            raise CredentialsPending(
                f"the credentials of project {project.id} are being fetched; retry in a few seconds",
                retry_after_seconds=5,
            )
        document = {"clouds": {f"sahab-{project.region_id}-{project.environment}": entry}}
    return Response(
        yaml.safe_dump(document, sort_keys=False),
        media_type="application/yaml",
        headers={
            "Content-Disposition": f'attachment; filename="clouds-{project_id}.yaml"',
            "Cache-Control": "no-store",
        },
    )


# ---------------------------------------------------------------- usage


def _usage_rows(request: Request, who: Visitor, query: dict[str, str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    runtime = portal_of(request).runtime
    period = usage_period(query, runtime.deps.clock.now(), who.gettext)
    with transaction(runtime.sessions) as session:
        rows = usage_report(
            session,
            who.principal,
            start=period["start"],
            end=period["end"],
            now=runtime.deps.clock.now(),
            by=period["by"],
        )
    return period, rows


def _usage_buckets(request: Request, who: Visitor, period: dict[str, Any]) -> list[dict[str, Any]]:
    """The same period over time (hours or days), from the integration the totals come from."""
    runtime = portal_of(request).runtime
    with transaction(runtime.sessions) as session:
        return usage_over_time(
            session, who.principal, start=period["start"], end=period["end"], now=runtime.deps.clock.now()
        )


# What the chart and the series table show per bucket: (field, label).
SERIES = (
    ("vcpu_hours", N_("vCPU-hours")),
    ("ram_gib_hours", N_("RAM GiB-hours")),
    ("volume_gib_hours", N_("Volume GiB-hours")),
    ("object_gib_hours", N_("Object GiB-hours")),
)
PEAKS = ("vcpus", "ram_mib", "volume_gib", "object_gib")


@router.get("/usage")
def usage(request: Request, who: Visitor = Depends(signed_in)) -> Response:
    query = dict(request.query_params)
    try:
        period, rows = _usage_rows(request, who, query)
    except InvalidInput as invalid:
        return render(
            request,
            who,
            "usage.html",
            status=422,
            period=None,
            rows=[],
            buckets=[],
            error=str(invalid.detail),
            query=query,
        )
    buckets = _usage_buckets(request, who, period)
    hourly = bucket_size(period["start"], period["end"]) < timedelta(days=1)
    fmt = i18n.Formats(who.language)
    points = [fmt.datetime_short(b["from"]) if hourly else fmt.date(b["from"]) for b in buckets]
    series_json = [{"label": who.gettext(label), "data": [b[name] for b in buckets]} for name, label in SERIES]
    return render(
        request,
        who,
        "usage.html",
        period=period,
        rows=rows,
        buckets=buckets,
        points=points,
        hourly=hourly,
        series=SERIES,
        series_json=series_json,
        peaks=PEAKS,
        error=None,
        query=query,
    )


def _csv_response(header: list[str], lines: list[list[Any]], name: str) -> Response:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(lines)
    return Response(
        out.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


@router.get("/usage.csv")
def usage_csv(request: Request, who: Visitor = Depends(signed_in)) -> Response:
    period, rows = _usage_rows(request, who, dict(request.query_params))
    header = [
        "from",
        "to",
        "by",
        "organisation_id",
        "region_id",
        "project_id",
        "environment",
        "projects",
        "vcpu_hours",
        "ram_gib_hours",
        "volume_gib_hours",
        "vcpus_peak",
        "vcpus_average",
        "ram_mib_peak",
        "ram_mib_average",
        "volume_gib_peak",
        "volume_gib_average",
        "object_gib_hours",
        "object_gib_peak",
        "object_gib_average",
    ]
    lines = [
        [
            row["from"].isoformat(),
            row["to"].isoformat(),
            row["by"],
            row["organisation_id"] or "",
            row["region_id"] or "",
            row["project_id"] or "",
            row["environment"] or "",
            row["projects"],
            row["vcpu_hours"],
            row["ram_gib_hours"],
            row["volume_gib_hours"],
            *(row["resources"][r][k] for r in ("vcpus", "ram_mib", "volume_gib") for k in ("peak", "average")),
            row["object_gib_hours"],
            row["resources"]["object_gib"]["peak"],
            row["resources"]["object_gib"]["average"],
        ]
        for row in rows
    ]
    return _csv_response(header, lines, f"sahab-usage-{period['start'].date()}-{period['end'].date()}.csv")


@router.get("/usage-over-time.csv")
def usage_over_time_csv(request: Request, who: Visitor = Depends(signed_in)) -> Response:
    """The chart's series: one line per hour or day of the period, everything the person may see summed."""
    period = usage_period(dict(request.query_params), portal_of(request).runtime.deps.clock.now(), who.gettext)
    buckets = _usage_buckets(request, who, period)
    header = ["from", "to", *(name for name, _ in SERIES), *(f"{r}_{k}" for r in PEAKS for k in ("peak", "average"))]
    lines = [
        [
            b["from"].isoformat(),
            b["to"].isoformat(),
            *(b[name] for name, _ in SERIES),
            *(b["resources"][r][k] for r in PEAKS for k in ("peak", "average")),
        ]
        for b in buckets
    ]
    return _csv_response(header, lines, f"sahab-usage-over-time-{period['start'].date()}-{period['end'].date()}.csv")


# ---------------------------------------------------------------- organisations


@router.get("/organisations")
def list_organisations(request: Request, who: Visitor = Depends(signed_in)) -> Response:
    runtime = portal_of(request).runtime
    with transaction(runtime.sessions) as session:
        orgs = organisations.list_visible(session, who.principal, None, LIST_LIMIT).items
        return render(request, who, "organisations.html", organisations=orgs, values={}, errors={})


@router.post("/organisations")
async def register_organisation(request: Request, who: Visitor = Depends(signed_in)) -> Response:
    return await posted(request, who, _register)


def _register(request: Request, who: Visitor, form: dict[str, str]) -> Response:
    runtime = portal_of(request).runtime
    try:
        data = OrganisationCreate(
            kind=form.get("kind", ""),
            legal_name=form.get("legal_name", "").strip(),
            national_id=form.get("national_id", "").strip(),
            contact_email=form.get("contact_email", "").strip(),
        )
    except ValidationError as invalid:
        with transaction(runtime.sessions) as session:
            orgs = organisations.list_visible(session, who.principal, None, LIST_LIMIT).items
            return render(
                request,
                who,
                "organisations.html",
                status=422,
                organisations=orgs,
                values=form,
                errors=field_errors(invalid, who.gettext),
            )
    with transaction(runtime.sessions) as session:
        created = organisations.register(session, runtime.deps.clock, who.principal, data)
        organisation_id = created.id
    return redirect(f"/portal/organisations/{organisation_id}")


@router.get("/organisations/{organisation_id}")
def show_organisation(
    organisation_id: str, request: Request, who: Visitor = Depends(signed_in), secret: str = ""
) -> Response:
    runtime = portal_of(request).runtime
    with transaction(runtime.sessions) as session:
        organisation = organisations.get(session, who.principal, organisation_id)
        members = organisations.list_members(session, who.principal, organisation_id)
        is_admin = organisation_role(session, who.principal, organisation_id) is MemberRole.ADMIN
        webhook = webhooks.get_webhook(session, who.principal, organisation_id) if is_admin else None
        deliveries = (
            webhooks.list_deliveries(session, who.principal, organisation_id, None, LIST_LIMIT).items
            if is_admin
            else []
        )
        return render(
            request,
            who,
            "organisation.html",
            organisation=organisation,
            members=members,
            is_admin=is_admin,
            webhook=webhook,
            deliveries=list(reversed(deliveries)),
            errors={},
            new_secret=None,
        )


@router.post("/organisations/{organisation_id}/{action}")
async def change_organisation(
    organisation_id: str, action: str, request: Request, who: Visitor = Depends(signed_in)
) -> Response:
    return await posted(request, who, _change_organisation, organisation_id, action)


def _change_organisation(
    request: Request, who: Visitor, organisation_id: str, action: str, form: dict[str, str]
) -> Response:
    runtime = portal_of(request).runtime
    back = f"/portal/organisations/{organisation_id}"
    with transaction(runtime.sessions) as session:
        if action == "members":
            try:
                data = MemberAdd(subject=form.get("subject", "").strip(), role=form.get("role", "member"))
            except ValidationError:
                raise InvalidInput(who.gettext("Enter the member's user name (their token subject).")) from None
            organisations.add_member(session, runtime.deps.clock, who.principal, organisation_id, data)
        elif action == "remove-member":
            organisations.remove_member(session, who.principal, organisation_id, form.get("subject", ""))
        elif action == "webhook":
            url = form.get("url", "").strip()
            try:
                WebhookIn(url=url)
            except ValidationError:
                raise InvalidInput(who.gettext("Enter a full http:// or https:// address.")) from None
            result = webhooks.set_webhook(session, runtime.webhook_targets, who.principal, organisation_id, url)
            organisation = organisations.get(session, who.principal, organisation_id)
            members = organisations.list_members(session, who.principal, organisation_id)
            deliveries = webhooks.list_deliveries(session, who.principal, organisation_id, None, LIST_LIMIT).items
            # The secret is shown once, on this answer only, as the API shows it once.
            return render(
                request,
                who,
                "organisation.html",
                organisation=organisation,
                members=members,
                is_admin=True,
                webhook=result,
                deliveries=list(reversed(deliveries)),
                errors={},
                new_secret=result["secret"],
            )
        elif action == "webhook-delete":
            webhooks.set_webhook(session, runtime.webhook_targets, who.principal, organisation_id, None)
        elif action == "verify":
            organisations.set_status(session, who.principal, organisation_id, OrganisationStatus.VERIFIED)
            back = "/portal/operations"
        elif action == "suspend":
            organisations.set_status(session, who.principal, organisation_id, OrganisationStatus.SUSPENDED)
            back = "/portal/operations"
        else:
            raise NotFound(f"no action {action}")
    return redirect(back)


# ---------------------------------------------------------------- approvers and operators


@router.get("/approvals")
def approvals(request: Request, who: Visitor = Depends(signed_in)) -> Response:
    require_role(who.principal, PlatformRole.APPROVER)  # as the API's decisions need it
    runtime = portal_of(request).runtime
    with transaction(runtime.sessions) as session:
        waiting = requests.list_visible(
            session, who.principal, cursor=None, limit=LIST_LIMIT, state=RequestState.SUBMITTED
        ).items
        return render(request, who, "approvals.html", waiting=waiting, resources=list(Resource))


@router.get("/operations")
def operations(request: Request, who: Visitor = Depends(signed_in)) -> Response:
    require_role(who.principal, PlatformRole.OPERATOR)
    runtime = portal_of(request).runtime
    with transaction(runtime.sessions) as session:
        orgs = organisations.list_visible(session, who.principal, None, LIST_LIMIT).items
        drift = metering.list_drift(session, who.principal)
        regions = read_all(session, runtime.deps.catalogue)
        return render(
            request, who, "operations.html", organisations=orgs, drift=drift, regions=regions, shown=RESOURCES_SHOWN
        )


@router.post("/projects/{project_id}/decommission")
async def decommission(project_id: str, request: Request, who: Visitor = Depends(signed_in)) -> Response:
    """Organisation admins and operators, as POST /v1/projects/{id}/decommission."""
    return await posted(request, who, _decommission, project_id)


def _decommission(request: Request, who: Visitor, project_id: str, form: dict[str, str]) -> Response:
    runtime = portal_of(request).runtime
    with transaction(runtime.sessions) as session:
        projects.decommission(session, runtime.deps, who.principal, project_id, "decommissioned from the portal")
    return redirect("/portal")


@router.post("/projects/{project_id}/repair")
async def repair(project_id: str, request: Request, who: Visitor = Depends(signed_in)) -> Response:
    await form_of(request, who)
    runtime = portal_of(request).runtime

    def run() -> None:
        with transaction(runtime.sessions) as session:
            metering.request_repair(session, runtime.deps, who.principal, project_id)

    await run_in_threadpool(run)
    return redirect("/portal/operations")
