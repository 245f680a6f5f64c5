"""The identity providers the interop suite runs against, behind one shape: Sahab's built-in issuer
(served by the API itself at /issuer, its demo accounts) and a real Keycloak (the README's recipe).

Each provider says who plays each part (a member of an organisation, a person of no organisation, an
approver, an agency's automation), approves a device sign-in the way a person's browser does (its own
HTML pages, parsed, never hard-coded), and shortens its access tokens for the refresh test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from controlplane.domain.states import OrganisationKind
from controlplane.settings import Settings
from tests.support.keycloak import DEVICE_CODE_GRANT, Browser, Sahab, User, approve_device

AUTOMATION = ("agency-automation", "agency-automation-dev-secret")  # the Keycloak realm file's development secret


@dataclass(frozen=True)
class Organisation:
    id: str
    member: User  # whose tokens name this organisation (Keycloak: a plain member; built-in: its admin)


@dataclass(frozen=True)
class Automation:
    client_id: str
    secret: str
    organisation: str  # the organisation it administers


class Provider(Protocol):
    name: str
    url: str  # Sahab's API
    settings: Settings

    @property
    def issuer(self) -> str: ...
    def organisations(self) -> tuple[Organisation, Organisation]: ...
    def business(self) -> Organisation: ...
    def nobody(self) -> User: ...
    def approver(self) -> User: ...
    def automation(self) -> Automation: ...
    def approve_in_browser(self, verification_uri: str, user_code: str, user: User) -> str: ...
    def short_lived_access_tokens(self, seconds: int) -> Any: ...


def endpoints(issuer: str) -> dict[str, Any]:
    return dict(httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=30).json())


def device_tokens(provider: Provider, user: User) -> dict[str, Any]:
    """A person's tokens by the device flow at the provider, approved in the browser, then one poll."""
    found = endpoints(provider.issuer)
    client_id = provider.settings.cli_client_id
    grant = httpx.post(
        found["device_authorization_endpoint"],
        timeout=30,
        data={"client_id": client_id, "scope": "openid profile email"},
    ).json()
    provider.approve_in_browser(grant["verification_uri"], grant["user_code"], user)
    response = httpx.post(
        found["token_endpoint"],
        timeout=30,
        data={"grant_type": DEVICE_CODE_GRANT, "device_code": grant["device_code"], "client_id": client_id},
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def refresh(provider: Provider, refresh_token: str) -> httpx.Response:
    return httpx.post(
        endpoints(provider.issuer)["token_endpoint"],
        timeout=30,
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": provider.settings.cli_client_id,
        },
    )


def unique_environment() -> str:
    return f"i{uuid.uuid4().hex[:8]}"


@dataclass
class BuiltinProvider:
    """The API's own issuer with its demo accounts (api/issuer/accounts.py) and demo organisations."""

    url: str
    settings: Settings
    name: str = "builtin"

    @property
    def issuer(self) -> str:
        return self.settings.builtin_issuer_url

    def organisations(self) -> tuple[Organisation, Organisation]:
        return (
            Organisation("org_demo_agency", User("amina", "amina", "amina-demo")),
            Organisation("org_demo_business", User("youssef", "youssef", "youssef-demo")),
        )

    def business(self) -> Organisation:
        return self.organisations()[1]

    def nobody(self) -> User:
        return User("karim", "karim", "karim-demo")

    def approver(self) -> User:
        return User("salma", "salma", "salma-demo")

    def automation(self) -> Automation:
        return Automation("agency-automation", "agency-automation-secret", "org_demo_agency")

    def approve_in_browser(self, verification_uri: str, user_code: str, user: User) -> str:
        """The device page: one form with the code, the username and the password; press Approve."""
        browser = Browser()
        try:
            browser.open(verification_uri)
            form = browser.form_with("user_code", "username", "password")
            page = browser.submit(
                form,
                {"user_code": user_code, "username": user.username, "password": user.password, "action": "approve"},
            )
            assert page.status_code == 200 and "Device signed in" in page.text, page.text[:2000]
            return page.text
        finally:
            browser.close()

    @contextmanager
    def short_lived_access_tokens(self, seconds: int) -> Iterator[None]:
        previous = self.settings.issuer_access_token_seconds
        self.settings.issuer_access_token_seconds = seconds  # read by the issuer at each token it signs
        try:
            yield
        finally:
            self.settings.issuer_access_token_seconds = previous


@dataclass
class KeycloakProvider:
    """A real Keycloak configured by the README's recipe: fresh groups and users for each test."""

    sahab: Sahab
    name: str = "keycloak"

    @property
    def url(self) -> str:
        return self.sahab.url

    @property
    def settings(self) -> Settings:
        return self.sahab.settings

    @property
    def issuer(self) -> str:
        return self.sahab.keycloak.issuer

    def organisations(self) -> tuple[Organisation, Organisation]:
        x, y = self.sahab.organisation(), self.sahab.organisation()
        return Organisation(x, self.sahab.person(f"/{x}")), Organisation(y, self.sahab.person(f"/{y}"))

    def business(self) -> Organisation:
        org = self.sahab.organisation(kind=OrganisationKind.BUSINESS)
        return Organisation(org, self.sahab.person(f"/{org}/admins"))

    def nobody(self) -> User:
        return self.sahab.person()

    def approver(self) -> User:
        return self.sahab.person("/sahab-approvers")

    def automation(self) -> Automation:
        org = self.sahab.organisation(kind=OrganisationKind.AGENCY)
        self.sahab.admin.join(self.sahab.admin.service_account(AUTOMATION[0]), f"/{org}/admins")
        return Automation(*AUTOMATION, org)

    def approve_in_browser(self, verification_uri: str, user_code: str, user: User) -> str:
        return approve_device(verification_uri, user_code, user.username, user.password)

    @contextmanager
    def short_lived_access_tokens(self, seconds: int) -> Iterator[None]:
        client = self.settings.cli_client_id
        previous = self.sahab.admin.set_client_attributes(client, **{"access.token.lifespan": str(seconds)})
        try:
            yield
        finally:
            self.sahab.admin.set_client_attributes(client, **previous)
