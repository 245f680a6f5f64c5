"""The demo accounts of the built-in issuer, as data.

They exist only when settings.demo_accounts is true (the default for `./dev run`);
with it false the built-in issuer knows no user and no client at all. The lead
seeds organisations org_demo_agency and org_demo_business whose admins are these
subjects (a user's subject is its username, a client's is "client:<client_id>").

The clients: the CLI (public: device flow and refresh tokens), the automation clients
(client credentials) and the portal (confidential: authorization code with PKCE and
refresh tokens, sent back only to settings.issuer_portal_redirect_uris).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Any

from authlib.oauth2.rfc6749 import ClientMixin

DEFAULT_SCOPE = "openid profile email"
DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
AUTHORIZATION_CODE = "authorization_code"
CLIENT_CREDENTIALS = "client_credentials"
REFRESH_TOKEN = "refresh_token"
SECRET_METHODS = frozenset({"client_secret_basic", "client_secret_post"})
PORTAL_CLIENT_ID = "sahab-portal"
PORTAL_SECRET = "sahab-portal-secret"


@dataclass(frozen=True)
class DemoUser:
    """A person who signs in through the device flow with a username and a password."""

    username: str
    password: str
    name: str
    email: str
    roles: tuple[str, ...] = ()
    orgs: tuple[str, ...] = ()

    @property
    def subject(self) -> str:
        return self.username


@dataclass(frozen=True)
class DemoClient:
    """A confidential client that uses the client-credentials grant (automation)."""

    client_id: str
    secret: str
    name: str
    roles: tuple[str, ...] = ()
    orgs: tuple[str, ...] = ()

    @property
    def subject(self) -> str:
        return f"client:{self.client_id}"


@dataclass(frozen=True)
class Client(ClientMixin):
    """An OAuth client as authlib's grants see it (authlib.oauth2.rfc6749.ClientMixin).

    `secret` None makes a public client (the CLI): it authenticates with `none`, and
    PKCE or the device code stands in for a secret. `identity` is who a client-credentials
    token speaks for; clients that act for users have none.
    """

    client_id: str
    grant_types: frozenset[str]
    auth_methods: frozenset[str]
    secret: str | None = None
    redirect_uris: tuple[str, ...] = ()
    identity: DemoClient | None = None

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.redirect_uris[0] if len(self.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str:
        return scope or DEFAULT_SCOPE  # which scopes exist is checked by the server (scopes_supported)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris  # exact match (RFC 9700 2.1)

    def check_client_secret(self, client_secret: str) -> bool:
        return self.secret is not None and _same(client_secret, self.secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in self.auth_methods

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and AUTHORIZATION_CODE in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser(
        username="amina",
        password="amina-demo",
        name="Amina El Idrissi",
        email="amina@agency.demo.sahab.example",
        orgs=("org_demo_agency:admin",),
    ),
    DemoUser(
        username="youssef",
        password="youssef-demo",
        name="Youssef Benali",
        email="youssef@business.demo.sahab.example",
        orgs=("org_demo_business:admin",),
    ),
    DemoUser(
        username="salma",
        password="salma-demo",
        name="Salma Approver",
        email="salma@platform.demo.sahab.example",
        roles=("approver", "operator"),
    ),
    DemoUser(  # a person who has signed in but belongs to no organisation yet
        username="karim",
        password="karim-demo",
        name="Karim Newcomer",
        email="karim@newcomer.demo.sahab.example",
    ),
)

DEMO_CLIENTS: tuple[DemoClient, ...] = (
    DemoClient(
        client_id="agency-automation",
        secret="agency-automation-secret",
        name="Agency automation",
        orgs=("org_demo_agency:admin",),
    ),
    DemoClient(
        client_id="operator-automation",
        secret="operator-automation-secret",
        name="Operator automation",
        roles=("approver", "operator"),
    ),
)


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


@dataclass(frozen=True)
class Accounts:
    """The users and clients one issuer knows; empty when demo accounts are off."""

    users: dict[str, DemoUser] = field(default_factory=dict)
    clients: dict[str, Client] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Any) -> Accounts:
        if not settings.demo_accounts:
            return cls()
        portal_uris = tuple(settings.issuer_portal_redirect_uris) or (
            settings.public_url.rstrip("/") + "/portal/callback",
        )
        clients = [
            Client(settings.cli_client_id, frozenset({DEVICE_CODE, REFRESH_TOKEN}), frozenset({"none"})),
            Client(
                PORTAL_CLIENT_ID,
                frozenset({AUTHORIZATION_CODE, REFRESH_TOKEN}),
                SECRET_METHODS,
                secret=PORTAL_SECRET,
                redirect_uris=portal_uris,
            ),
            *(
                Client(c.client_id, frozenset({CLIENT_CREDENTIALS}), SECRET_METHODS, secret=c.secret, identity=c)
                for c in DEMO_CLIENTS
            ),
        ]
        return cls(users={u.username: u for u in DEMO_USERS}, clients={c.client_id: c for c in clients})

    def authenticate_user(self, username: str, password: str) -> DemoUser | None:
        user = self.users.get(username)
        if user is None:
            _same(password, "not-a-password")  # spend the same time either way
            return None
        return user if _same(password, user.password) else None
