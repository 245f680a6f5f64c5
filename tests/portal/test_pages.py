"""The portal's pages over real HTTP on both databases: what a member, an admin, an approver and an
operator see and may do, in each language; nothing the API would refuse the same person."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import yaml

from controlplane.domain.states import MemberRole
from controlplane.persistence.database import transaction
from controlplane.persistence.models import Membership, Project, QuotaRequest
from controlplane.programmes import service as programmes
from controlplane.programmes.catalogue import DEMO_PROGRAMMES
from tests import factories
from tests.support.api import make_active
from tests.support.fakes import RecordingQueue
from tests.support.issuer_flows import device_tokens
from tests.support.portal import PortalUser, ServedSahab, served_sahab

BUSINESS, AGENCY = "org_demo_business", "org_demo_agency"
SMALL = {
    "organisation_id": BUSINESS,
    "region": "rabat-1",
    "environment": "prod",
    "preset": "small",
    "justification": "Atlas analytics production",
    "action": "submit",
}


def request_id_of(response: httpx.Response) -> str:
    match = re.search(r"/portal/requests/(req_[A-Za-z0-9]+)$", str(response.url))
    assert match, (response.status_code, str(response.url), response.text[:800])
    return match.group(1)


def api_token(sahab, username: str) -> dict[str, str]:
    with httpx.Client(base_url=sahab.url + "/issuer", timeout=30) as http:
        tokens = device_tokens(http, username, f"{username}-demo")
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def give_credentials(sahab, request_id: str) -> str:
    return make_active(sahab.runtime, request_id, credentials=True)


@pytest.mark.parametrize(
    "language, direction, words",
    [("en", "ltr", "Dashboard"), ("fr", "ltr", "Tableau de bord"), ("ar", "rtl", "لوحة المتابعة")],
)
def test_every_page_renders_in_each_language(browser_of, language, direction, words):
    youssef, salma = browser_of("youssef"), browser_of("salma")
    for user in (youssef, salma):
        switched = user.http.get(f"/portal/lang/{language}", params={"next": "/portal/usage"})
        assert str(switched.url).endswith("/portal/usage")
    pages = [
        (youssef, p)
        for p in (
            "/portal",
            "/portal/requests/new",
            "/portal/usage",
            "/portal/organisations",
            f"/portal/organisations/{BUSINESS}",
        )
    ]
    pages += [(salma, p) for p in ("/portal/approvals", "/portal/operations")]
    for user, page in pages:
        response = user.http.get(page)
        assert response.status_code == 200, (page, response.text[:1500])
        assert f'<html lang="{language}" dir="{direction}">' in response.text
        assert words in response.text
        assert response.headers["cache-control"] == "no-store"


def test_a_small_request_is_approved_at_once_and_shows_its_progress(browser_of, sahab):
    youssef = browser_of("youssef")
    preview = youssef.post("/portal/requests/new", {**SMALL, "action": "preview"})
    assert preview.status_code == 200 and "Approved automatically" in preview.text
    bigger = youssef.post("/portal/requests/new", {**SMALL, "preset": "medium", "action": "preview"})
    assert "An approver must decide" in bigger.text
    created = youssef.post("/portal/requests/new", SMALL)
    request_id = request_id_of(created)
    assert (
        "state-approved" in created.text
        and "Approved automatically, within what the organisation gets." in created.text
    )
    assert sahab.runtime.deps.queue.provisioned == [request_id]
    assert "Cancel the request" not in created.text  # approved: only a waiting request can be cancelled
    progress = youssef.http.get(f"/portal/requests/{request_id}/progress", params={"after": 0}).json()
    assert progress["state"] == "approved" and progress["events"] and not progress["final"]


@pytest.fixture
def with_programmes(database_url, tmp_path) -> Iterator[ServedSahab]:
    """Sahab offering the demo's startup-launch programme (a medium grant, funded in rabat-1)."""
    catalogue = yaml.safe_load(DEMO_PROGRAMMES.read_text())
    path = tmp_path / "programmes.yaml"
    path.write_text(yaml.safe_dump({"programmes": [p for p in catalogue["programmes"] if p["id"] == "startup-launch"]}))
    with served_sahab(database_url, tmp_path / "data", queue=RecordingQueue(), programmes_path=path) as served:
        yield served


def test_the_preview_counts_an_enrolled_programmes_envelope(with_programmes):
    sahab = with_programmes
    youssef = PortalUser(sahab)
    assert str(youssef.sign_in("youssef", "youssef-demo").url).endswith("/portal")
    with transaction(sahab.runtime.sessions) as session:
        startup = factories.startup(session, admin="youssef").id
        programmes.apply(session, sahab.runtime.deps, factories.person("youssef"), "startup-launch", startup)
    # Medium is above a business's envelope, but within the programme's: approved at once, from its reserve.
    medium = {**SMALL, "organisation_id": startup, "preset": "medium", "action": "preview"}
    preview = youssef.post("/portal/requests/new", medium)
    assert preview.status_code == 200, preview.text[:800]
    assert "Approved automatically within the envelope of programme" in preview.text
    assert "An approver must decide" not in preview.text
    created = youssef.post("/portal/requests/new", {**medium, "action": "submit"})
    assert (
        "state-approved" in created.text and "within the envelope of the organisation&#39;s programme" in created.text
    )
    # Above the programme's grant, the kind's envelope applies again, as create() decides.
    large = youssef.post("/portal/requests/new", {**medium, "preset": "large", "environment": "big"})
    assert "An approver must decide: this is above what a business gets automatically" in large.text
    youssef.close()


def test_validation_errors_are_shown_inline_in_the_persons_language(browser_of, sahab):
    youssef = browser_of("youssef", accept_language="fr-MA,fr;q=0.9")
    refused = youssef.post("/portal/requests/new", {**SMALL, "environment": "Prod!", "justification": "x"})
    assert refused.status_code == 422
    assert 'id="environment-error"' in refused.text and 'aria-invalid="true"' in refused.text
    assert "Utilisez des lettres minuscules" in refused.text
    with transaction(sahab.runtime.sessions) as session:
        assert session.query(QuotaRequest).count() == 0


def test_another_organisations_pages_answer_404(browser_of, sahab):
    amina, youssef = browser_of("amina"), browser_of("youssef")
    request_id = request_id_of(amina.post("/portal/requests/new", {**SMALL, "organisation_id": AGENCY}))
    project_id = give_credentials(sahab, request_id)
    for page in (
        f"/portal/organisations/{AGENCY}",
        f"/portal/requests/{request_id}",
        f"/portal/requests/{request_id}/progress",
        f"/portal/projects/{project_id}/clouds.yaml",
    ):
        response = youssef.http.get(page)
        assert response.status_code == 404, page
        assert AGENCY not in response.text.replace(page, "") or "not found" in response.text
    cancel = youssef.post(f"/portal/requests/{request_id}/cancel", {})
    assert cancel.status_code == 404
    dashboard = youssef.http.get("/portal").text
    assert request_id not in dashboard and project_id not in dashboard


def test_the_portal_shows_nothing_the_api_refuses(browser_of, sahab):
    youssef, amina = browser_of("youssef"), browser_of("amina")
    request_id = request_id_of(youssef.post("/portal/requests/new", SMALL))
    project_id = give_credentials(sahab, request_id)
    with transaction(sahab.runtime.sessions) as session:  # amina: a plain member of the business
        session.add(
            Membership(
                organisation_id=BUSINESS,
                subject="amina",
                role=MemberRole.MEMBER.value,
                created_at=sahab.runtime.deps.clock.now(),
            )
        )

    # The admin's download is the API's document.
    download = youssef.http.get(f"/portal/projects/{project_id}/clouds.yaml")
    assert download.status_code == 200 and "attachment" in download.headers["content-disposition"]
    api = httpx.get(f"{sahab.url}/v1/projects/{project_id}/credentials", headers=api_token(sahab, "youssef"))
    assert yaml.safe_load(download.text) == api.json()

    # A member sees the project but gets no credentials, as from the API (403), and no link to them.
    api_refusal = httpx.get(f"{sahab.url}/v1/projects/{project_id}/credentials", headers=api_token(sahab, "amina"))
    assert api_refusal.status_code == 403
    assert amina.http.get(f"/portal/projects/{project_id}/clouds.yaml").status_code == 403
    dashboard = amina.http.get("/portal").text
    assert project_id in dashboard and "clouds.yaml" not in dashboard
    # Nor the webhook settings, which are for admins.
    assert "Usage alert webhook" not in amina.http.get(f"/portal/organisations/{BUSINESS}").text

    # Staff pages need the platform roles, as the API's decisions do.
    assert youssef.http.get("/portal/approvals").status_code == 403
    assert youssef.http.get("/portal/operations").status_code == 403
    assert "Approvals" not in dashboard


def test_an_approver_approves_a_waiting_request_from_the_queue(browser_of, sahab):
    youssef, salma = browser_of("youssef"), browser_of("salma")
    request_id = request_id_of(
        youssef.post("/portal/requests/new", {**SMALL, "preset": "medium", "environment": "big"})
    )
    assert "Cancel the request" in youssef.http.get(f"/portal/requests/{request_id}").text
    queue = salma.http.get("/portal/approvals")
    assert request_id in queue.text and "above what a business gets automatically (vCPUs, RAM (MiB)" in queue.text
    approved = salma.post(
        f"/portal/requests/{request_id}/approve",
        {"reason": "growth is planned", "next": "/portal/approvals"},
        csrf_from="/portal/approvals",
    )
    assert approved.status_code == 200 and str(approved.url).endswith("/portal/approvals")
    with transaction(sahab.runtime.sessions) as session:
        assert session.get_one(QuotaRequest, request_id).state == "approved"
    # A rejection needs a reason, said in the approver's language.
    other = request_id_of(youssef.post("/portal/requests/new", {**SMALL, "preset": "large", "environment": "huge"}))
    refused = salma.post(f"/portal/requests/{other}/reject", {"reason": ""}, csrf_from="/portal/approvals")
    assert refused.status_code == 422


def test_usage_downloads_as_csv_and_refuses_a_bad_period(browser_of):
    youssef = browser_of("youssef")
    page = youssef.http.get("/portal/usage", params={"from": "2026-11-01", "to": "2026-11-30", "by": "region"})
    assert page.status_code == 200
    csv = youssef.http.get("/portal/usage.csv", params={"from": "2026-11-01", "to": "2026-11-30"})
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[0].startswith("from,to,by,organisation_id")
    wrong = youssef.http.get("/portal/usage", params={"from": "2026-12-01", "to": "2026-11-01"})
    assert wrong.status_code == 422 and "must come before" in wrong.text


def test_usage_over_time_as_a_table_and_a_csv(browser_of, sahab):
    youssef = browser_of("youssef", accept_language="fr-MA")
    project_id = give_credentials(sahab, request_id_of(youssef.post("/portal/requests/new", SMALL)))
    with transaction(sahab.runtime.sessions) as session:
        project = session.get_one(Project, project_id)
        start = datetime(2026, 11, 1, tzinfo=UTC)
        project.created_at = start - timedelta(days=1)
        for hours, vcpus, gib in ((0, 2, 10), (24, 4, 10), (48, 0, 0)):  # 2 vCPUs on day 1, 4 on day 2, none after
            factories.usage_sample(
                session,
                project,
                start + timedelta(hours=hours),
                used={"vcpus": vcpus, "ram_mib": 1024 * vcpus, "volume_gib": gib, "object_gib": 1},
            )
    period = {"from": "2026-11-01", "to": "2026-11-05"}
    page = youssef.http.get("/portal/usage", params=period)
    assert page.status_code == 200 and "Utilisation au fil du temps, par jour" in page.text
    assert page.text.count('<canvas id="usage-chart-') == 4 and 'id="series-table"' in page.text
    table = page.text[page.text.index('id="series-table"') : page.text.index('id="totals-h"')]
    assert table.count('<tr><th scope="row">') == 4  # four days, without JavaScript
    assert "48,0" in table and "96,0" in table  # vCPU-hours of days 1 and 2, in French figures
    series = youssef.http.get("/portal/usage-over-time.csv", params=period)
    assert series.status_code == 200 and series.headers["content-type"].startswith("text/csv")
    lines = series.text.splitlines()
    assert lines[0].startswith("from,to,vcpu_hours,ram_gib_hours,volume_gib_hours,object_gib_hours,vcpus_peak")
    assert [line.split(",")[2] for line in lines[1:]] == ["48.0", "96.0", "0.0", "0.0"]
    assert [line.split(",")[5] for line in lines[1:]] == ["24.0"] * 4  # object GiB-hours: 1 GiB all along
    # Hours for a short period; the days' sum is the totals' figure.
    hourly = youssef.http.get(
        "/portal/usage-over-time.csv", params={"from": "2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z"}
    )
    assert len(hourly.text.splitlines()) == 1 + 24
    totals = youssef.http.get("/portal/usage.csv", params=period).text.splitlines()
    assert totals[1].split(",")[8] == "144.0"
    assert (
        youssef.http.get("/portal/usage-over-time.csv", params={"from": "2026-12-01", "to": "2026-11-01"}).status_code
        == 422
    )


def test_an_operator_verifies_a_registered_organisation(browser_of, sahab):
    youssef, salma = browser_of("youssef"), browser_of("salma")
    registered = youssef.post(
        "/portal/organisations",
        {
            "kind": "business",
            "legal_name": "Textiles du Nord SARL",
            "national_id": "002233445000011",
            "contact_email": "it@textiles.example",
        },
        csrf_from="/portal/organisations",
    )
    organisation_id = str(registered.url).rsplit("/", 1)[1]
    assert "waiting for verification" in registered.text
    verified = salma.post(f"/portal/organisations/{organisation_id}/verify", {}, csrf_from="/portal/operations")
    assert str(verified.url).endswith("/portal/operations")
    assert "verified" in youssef.http.get(f"/portal/organisations/{organisation_id}").text
    # An operator who is an admin of it could not verify it (separation of duties): shown, not done.
    again = youssef.post(f"/portal/organisations/{organisation_id}/verify", {}, csrf_from="/portal/organisations")
    assert again.status_code == 403


def test_an_admin_decommissions_a_project_and_a_member_may_not(browser_of, sahab):
    youssef, amina = browser_of("youssef"), browser_of("amina")
    project_id = give_credentials(sahab, request_id_of(youssef.post("/portal/requests/new", SMALL)))
    with transaction(sahab.runtime.sessions) as session:
        session.add(
            Membership(
                organisation_id=BUSINESS,
                subject="amina",
                role=MemberRole.MEMBER.value,
                created_at=sahab.runtime.deps.clock.now(),
            )
        )
    assert amina.post(f"/portal/projects/{project_id}/decommission", {}).status_code == 403
    done = youssef.post(f"/portal/projects/{project_id}/decommission", {})
    assert done.status_code == 200 and str(done.url).endswith("/portal")
    assert sahab.runtime.deps.queue.decommissioned == [project_id]
    assert "state-decommissioning" in done.text
