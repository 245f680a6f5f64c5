"""The portal in Debian's Chromium (Playwright): sign-in through the built-in issuer, every page in
English, French and Arabic checked by axe-core (no serious or critical WCAG 2.1 AA violation), the
Arabic pages right-to-left, the approver's queue, a phone-sized screen; screenshots kept."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from controlplane.domain.resources import as_plain
from controlplane.persistence.database import transaction
from controlplane.persistence.models import QuotaRequest
from tests import factories
from tests.support.browser import artefacts_dir, chromium, focused, serious_violations, tab_to
from tests.support.fakes import RecordingQueue
from tests.support.portal import ServedSahab, served_sahab

pytestmark = pytest.mark.browser
LANGUAGES = ("en", "fr", "ar")
MEMBER_PAGES = {
    "dashboard": "/portal",
    "new-request": "/portal/requests/new",
    "usage": "/portal/usage",
    "organisations": "/portal/organisations",
    "organisation": "/portal/organisations/org_demo_business",
}
STAFF_PAGES = {"approvals": "/portal/approvals", "operations": "/portal/operations"}


@pytest.fixture
def sahab(sqlite_url: str, tmp_path: Path) -> Iterator[ServedSahab]:
    with served_sahab(sqlite_url, tmp_path / "data", queue=RecordingQueue()) as served:
        yield served


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as running:
        yield running


def sign_in(browser, sahab: ServedSahab, username: str, **context: object):
    page = browser.new_context(base_url=sahab.url, **context).new_page()
    page.goto("/portal")
    assert "/issuer/authorize" in page.url
    page.fill("#username", username)
    page.fill("#password", f"{username}-demo")
    page.click("button[value=approve]")
    page.wait_for_url(re.compile(r".*/portal$"))
    return page


def file_medium_request(page, environment: str, justification: str, preview: bool = False) -> str:
    """Files a request above a business's envelope (it waits for an approver); returns its page's path."""
    page.goto("/portal/requests/new")
    page.fill("#environment", environment)
    page.check("#preset-medium")
    page.fill("#justification", justification)
    if preview:
        page.click("button[value=preview]")
        assert page.locator(".preview .warn").is_visible()
    page.click("button[value=submit]")
    page.wait_for_url(re.compile(r".*/portal/requests/req_\w+$"))
    return "/portal/requests/" + page.url.rsplit("/", 1)[1]


def check(page, name: str, language: str) -> None:
    violations = serious_violations(page)
    page.screenshot(path=str(artefacts_dir() / language / f"{name}.png"), full_page=True)
    assert not violations, f"{name} ({language}): {violations}"


def test_every_page_in_three_languages_passes_axe(browser, sahab):
    youssef, salma = sign_in(browser, sahab, "youssef"), sign_in(browser, sahab, "salma")
    # Something in every list: a request that waits for an approver, shown on the queue and its page.
    request_page = file_medium_request(youssef, "big", "Growth of the analytics platform", preview=True)
    for language in LANGUAGES:
        for page in (youssef, salma):
            page.goto(f"/portal/lang/{language}")
        for name, path in {**MEMBER_PAGES, "request": request_page}.items():
            youssef.goto(path)
            check(youssef, name, language)
        for name, path in STAFF_PAGES.items():
            salma.goto(path)
            check(salma, name, language)
        # A form refused, with its errors inline.
        youssef.goto("/portal/requests/new")
        youssef.fill("#environment", "Not Valid")
        youssef.click("button[value=submit]")
        assert youssef.locator("#environment-error").is_visible()
        check(youssef, "new-request-errors", language)


def test_arabic_is_right_to_left(browser, sahab):
    page = sign_in(browser, sahab, "youssef")
    page.click("a[hreflang=ar]")
    assert page.get_attribute("html", "dir") == "rtl" and page.get_attribute("html", "lang") == "ar"
    assert page.locator("h1").inner_text() == "لوحة المتابعة"
    # Mirrored: the brand sits at the right edge, the language switcher to its left.
    brand, languages = page.locator(".brand").bounding_box(), page.locator(".languages").bounding_box()
    assert brand["x"] > languages["x"]
    assert page.evaluate("getComputedStyle(document.querySelector('th')).textAlign") in ("start", "right")
    page.goto("/portal/usage")  # the choice is remembered
    assert page.get_attribute("html", "dir") == "rtl"
    page.click("a[hreflang=en]")
    assert page.get_attribute("html", "dir") == "ltr"


def test_an_approver_approves_a_waiting_request(browser, sahab):
    youssef, salma = sign_in(browser, sahab, "youssef"), sign_in(browser, sahab, "salma")
    request_id = file_medium_request(youssef, "growth", "A bigger data platform").rsplit("/", 1)[1]
    salma.goto("/portal/approvals")
    card = salma.locator("article", has_text=request_id)
    assert "above what a business gets automatically" in card.inner_text()
    card.locator("input[name=reason]").first.fill("planned growth")
    card.locator("button", has_text="Approve").click()
    salma.wait_for_url(re.compile(r".*/portal/approvals$"))
    with transaction(sahab.runtime.sessions) as session:
        assert session.get_one(QuotaRequest, request_id).state == "approved"
    youssef.reload()
    assert "approved" in youssef.locator("#request-state").inner_text()


def test_the_portal_is_usable_on_a_phone_and_by_keyboard(browser, sahab):
    page = sign_in(browser, sahab, "youssef", viewport={"width": 390, "height": 844}, is_mobile=True)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    page.screenshot(path=str(artefacts_dir() / "en" / "dashboard-phone.png"), full_page=True)
    page.goto("/portal/usage")  # the charts stack, the wide tables scroll inside their own box
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    page.goto("/portal/requests/new")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    page.keyboard.press("Tab")  # the first stop is the skip link, visibly focused
    focused = page.evaluate("document.activeElement.className")
    assert focused == "skip"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"


def test_a_request_is_filed_and_approved_with_the_keyboard_only(browser, sahab):
    youssef, salma = sign_in(browser, sahab, "youssef"), sign_in(browser, sahab, "salma")
    tab_to(youssef, "a[href='/portal/requests/new']")
    youssef.keyboard.press("Enter")
    youssef.wait_for_url(re.compile(r".*/portal/requests/new$"))
    tab_to(youssef, "#environment")
    youssef.keyboard.type("keys")
    tab_to(youssef, "#preset-small")  # the group's checked radio; the arrows choose within it
    youssef.keyboard.press("ArrowDown")
    assert youssef.is_checked("#preset-medium")
    tab_to(youssef, "#environment", backwards=True)
    assert youssef.input_value("#environment") == "keys"
    tab_to(youssef, "#justification")
    youssef.keyboard.type("Typed without a mouse")
    tab_to(youssef, "button[value=preview]")
    youssef.keyboard.press("Enter")
    youssef.wait_for_selector(".preview .warn")  # medium waits for an approver
    tab_to(youssef, "button[value=submit]")
    youssef.keyboard.press("Space")
    youssef.wait_for_url(re.compile(r".*/portal/requests/req_\w+$"))
    request_id = youssef.url.rsplit("/", 1)[1]

    tab_to(salma, "a[href='/portal/approvals']")
    salma.keyboard.press("Enter")
    salma.wait_for_url(re.compile(r".*/portal/approvals$"))
    tab_to(salma, f"#approve-reason-{request_id}")
    salma.keyboard.type("planned growth")
    salma.keyboard.press("Tab")
    assert focused(salma)["text"] == "Approve" and focused(salma)["visible"]
    with salma.expect_navigation():
        salma.keyboard.press("Enter")
    assert salma.url.endswith("/portal/approvals") and request_id not in salma.locator("main").inner_text()
    with transaction(sahab.runtime.sessions) as session:
        request = session.get_one(QuotaRequest, request_id)
        assert request.state == "approved" and request.justification == "Typed without a mouse"
        medium = as_plain(sahab.runtime.deps.region("rabat-1").preset("medium"))
        assert request.environment == "keys" and request.amounts == medium  # the size chosen with the arrows


def test_the_usage_chart_is_drawn_over_time(browser, sahab):
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    with transaction(sahab.runtime.sessions) as session:
        project = factories.active_project(
            session,
            "org_demo_business",
            created_at=now - timedelta(days=20),
            environment="charted",
            granted={"vcpus": 8, "ram_mib": 16384, "volume_gib": 200},
        )
        for days, vcpus in ((14, 2), (10, 6), (6, 4), (3, 8)):
            factories.usage_sample(
                session,
                project,
                now - timedelta(days=days),
                used={"vcpus": vcpus, "ram_mib": 2048 * vcpus, "volume_gib": 20 * vcpus, "object_gib": 5},
            )
    for language in LANGUAGES:
        page = sign_in(browser, sahab, "youssef")
        page.goto(f"/portal/lang/{language}?next=/portal/usage")
        page.wait_for_selector("#usage-chart-object_gib_hours[data-drawn=true]")
        drawn = page.evaluate("""() => [...document.querySelectorAll('canvas[data-series]')].map(c => {
            const chart = Chart.getChart(c);
            const pixels = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let inked = 0; for (let i = 3; i < pixels.length; i += 4) { if (pixels[i] > 0) { inked++; } }
            return {type: chart.config.type, datasets: chart.data.datasets.length, points: chart.data.labels.length,
                    width: c.width, height: c.height, inked: inked}; })""")
        assert len(drawn) == 4, drawn  # vCPU-, RAM GiB-, volume GiB- and object GiB-hours, each on its own scale
        for chart in drawn:
            assert chart["type"] == "line" and chart["datasets"] == 1 and chart["points"] >= 30, chart
            assert chart["width"] > 300 and chart["inked"] > 1000, chart
        drawn = drawn[0]
        rows = page.locator("#series-table tbody tr").count()
        assert rows == drawn["points"]  # the same series as a table, for reading without JavaScript
        check(page, "usage-chart", language)
        page.set_viewport_size({"width": 390, "height": 844})  # on a phone the charts stack and nothing overflows
        page.wait_for_function("document.documentElement.scrollWidth <= window.innerWidth + 1")
        page.context.close()


def test_the_device_page_of_sahab_login_follows_the_language(browser, sahab):
    for language in LANGUAGES:
        # bypass_csp: the issuer's pages forbid every script, axe-core's too.
        context = browser.new_context(
            base_url=sahab.url, extra_http_headers={"Accept-Language": f"{language},en;q=0.5"}, bypass_csp=True
        )
        page = context.new_page()
        page.goto("/issuer/device?user_code=BCDF-GHJK")
        assert page.get_attribute("html", "lang") == language
        assert page.get_attribute("html", "dir") == ("rtl" if language == "ar" else "ltr")
        page.fill("#username", "amina")
        page.fill("#password", "wrong")
        page.click("button[value=approve]")  # an unknown code: refused, in the same language
        assert page.locator(".error").is_visible() and page.get_attribute("html", "lang") == language
        check(page, "device", language)
        context.close()
