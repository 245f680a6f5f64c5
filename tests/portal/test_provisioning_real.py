"""The README's walkthrough in the portal, in Chromium, against the local OpenStack: Sahab runs as
`./dev run` runs it (`sahab-server all` on the embedded defaults), Youssef signs in through the
built-in issuer, asks for a small project in rabat-1, watches each resource being created without
a reload, and downloads a clouds.yaml that opens the new project."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import openstack
import pytest
import yaml

from tests.support.browser import artefacts_dir, chromium
from tests.support.openstack import admin_connection, delete_project
from tests.support.portal import sahab_all

pytestmark = [pytest.mark.browser, pytest.mark.devcloud, pytest.mark.pulumi]


def test_a_request_provisions_for_real_and_its_credentials_download(tmp_path: Path):
    admin = admin_connection()
    environment = f"portal-{secrets.token_hex(3)}"
    # Sahab's names on the cloud for this project and its user: found by name, so that cleaning up needs
    # nothing the test may not have reached.
    project_name = f"sahab-org_demo_business-rabat-1-{environment}"
    with sahab_all(tmp_path / "data", tmp_path) as url, chromium() as browser:
        try:
            page = browser.new_context(base_url=url, accept_downloads=True).new_page()
            page.goto("/portal/requests/new")
            page.fill("#username", "youssef")
            page.fill("#password", "youssef-demo")
            page.click("button[value=approve]")
            page.wait_for_url(re.compile(r".*/portal/requests/new$"))
            page.select_option("#region", "rabat-1")
            page.fill("#environment", environment)
            page.check("#preset-small")
            page.fill("#justification", "Atlas analytics production")
            page.click("button[value=submit]")
            page.wait_for_url(re.compile(r".*/portal/requests/req_\w+$"))
            request_url = page.url
            # Progress arrives while the page stays: resources appear as Pulumi creates them.
            page.locator("#events .detail").first.wait_for(timeout=240_000)
            assert page.url == request_url
            page.screenshot(
                path=str(artefacts_dir() / "en" / "request-provisioning.png"), full_page=True, timeout=120_000
            )
            page.locator("#request-state .state-active").wait_for(timeout=300_000)
            # Once final, the page reloads itself to offer what the new state allows: the credentials.
            page.locator("a[href$='clouds.yaml']").wait_for(timeout=60_000)
            assert not page.locator("text=Cancel the request").count()
            page.screenshot(path=str(artefacts_dir() / "en" / "request-active.png"), full_page=True, timeout=120_000)
            with page.expect_download() as download:
                page.click("a[href$='clouds.yaml']")
            document = yaml.safe_load(Path(download.value.path()).read_text())
            ((name, entry),) = document["clouds"].items()
            created_project = entry["auth"]["project_id"]
            assert entry["auth"]["username"] == f"{project_name}-user"
            assert name.startswith("sahab-rabat-1-portal-")
            # The credentials open the new project on the cloud.
            connection = openstack.connect(
                auth=entry["auth"], region_name=entry["region_name"], identity_api_version=3, api_timeout=60
            )
            assert connection.current_project_id == created_project
            assert list(connection.network.networks(project_id=created_project))
            page.click("a[hreflang=ar]")
            assert page.get_attribute("html", "dir") == "rtl"
            page.screenshot(path=str(artefacts_dir() / "ar" / "request-active.png"), full_page=True, timeout=120_000)
        finally:
            left: list[str] = []
            project = admin.identity.find_project(project_name)
            if project is not None:
                left = delete_project(admin, project.id)
            user = admin.identity.find_user(f"{project_name}-user")
            if user is not None:
                admin.identity.delete_user(user)
            assert not left, left
