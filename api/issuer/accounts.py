"""The demo accounts of the built-in issuer, as data.

They exist only when settings.demo_accounts is true (the default for `./dev run`);
with it false the built-in issuer knows no user and no client at all. The lead
seeds organisations org_demo_agency and org_demo_business whose admins are these
subjects (a user's subject is its username, a client's is "client:<client_id>").
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Any


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
    clients: dict[str, DemoClient] = field(default_factory=dict)
    public_clients: frozenset[str] = frozenset()  # device-flow clients (no secret)

    @classmethod
    def from_settings(cls, settings: Any) -> "Accounts":
        if not settings.demo_accounts:
            return cls()
        return cls(
            users={u.username: u for u in DEMO_USERS},
            clients={c.client_id: c for c in DEMO_CLIENTS},
            public_clients=frozenset({settings.cli_client_id}),
        )

    def authenticate_user(self, username: str, password: str) -> DemoUser | None:
        user = self.users.get(username)
        if user is None:
            _same(password, "not-a-password")  # spend the same time either way
            return None
        return user if _same(password, user.password) else None

    def authenticate_client(self, client_id: str, secret: str) -> DemoClient | None:
        client = self.clients.get(client_id)
        if client is None:
            _same(secret, "not-a-secret")
            return None
        return client if _same(secret, client.secret) else None
