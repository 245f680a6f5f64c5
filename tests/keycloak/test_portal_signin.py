"""The portal's sign-in through Keycloak in Chromium: the realm's confidential `sahab-portal` client,
authorization code with PKCE S256, Keycloak's own login page, and sign-out revoking the session."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.support.browser import chromium
from tests.support.keycloak import Sahab

pytestmark = pytest.mark.browser


@pytest.fixture
def portal_redirect(sahab: Sahab) -> Iterator[None]:
    """The realm lets the portal client come back to this test's Sahab (its port is not the realm's 8080)."""
    client = sahab.admin.client("sahab-portal")
    previous = list(client["redirectUris"])
    client["redirectUris"] = [*previous, f"{sahab.url}/portal/*"]
    sahab.admin.request("PUT", f"/clients/{client['id']}", json=client)
    yield
    client["redirectUris"] = previous
    sahab.admin.request("PUT", f"/clients/{client['id']}", json=client)


def test_the_portal_signs_in_through_keycloak(sahab: Sahab, portal_redirect: None) -> None:
    organisation = sahab.organisation()
    person = sahab.person(f"/{organisation}/admins")
    with chromium() as browser:
        page = browser.new_context(base_url=sahab.url).new_page()
        page.goto("/portal/organisations")
        assert page.url.startswith(sahab.keycloak.url + "/realms/sahab/protocol/openid-connect/auth")
        assert "code_challenge_method=S256" in page.url
        page.fill("#username", person.username)
        page.fill("#password", person.password)
        page.click("#kc-login")
        page.wait_for_url(re.compile(r".*/portal/organisations$"))
        assert organisation in page.content()  # the claim sahab_orgs, read by the portal as by the API
        assert page.locator(".who").inner_text() == f"{person.username.title()} Tester"
        page.click(".signout button")
        page.wait_for_url(re.compile(r".*/portal/signed-out$"))
        page.goto("/portal")
        # The portal's session is gone; Keycloak's own SSO session may sign the person straight back in.
        assert page.url.startswith(sahab.keycloak.url) or page.url.endswith("/portal")
