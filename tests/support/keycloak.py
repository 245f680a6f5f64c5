"""A real Keycloak for the test session, its admin REST API, and a browser made of an HTTP client.

`KeycloakServer` runs `keycloak/start` (dev mode, loopback, a fresh H2 file from the database template,
the repository's realm file imported) on a free port and waits for the realm's discovery document; a server that does not come up
fails the session with the tail of its log. SAHAB_TEST_KEYCLOAK_URL (a freshly started `keycloak/start`:
the realm imported, the bootstrap admin admin/admin, no groups left by an earlier session) skips starting one.

`Browser` follows HTML forms the way a person's browser would (cookies, redirects, hidden inputs), so
the device flow can be approved without a browser: Keycloak's pages are parsed, never hard-coded.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx

from controlplane.composition import ApiRoot
from controlplane.persistence.database import transaction
from controlplane.settings import Settings
from tests import factories
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
START = ROOT / "keycloak" / "start"
REALM_FILE = ROOT / "keycloak" / "sahab-realm.json"
REALM = "sahab"
ADMIN = ("admin", "admin")
START_TIMEOUT = 600  # seconds; a cold start-dev on 2 busy cores has taken more than 4 minutes


@dataclass
class KeycloakServer:
    state: Path
    port: int = 0
    url: str = ""
    process: subprocess.Popen[bytes] | None = None
    started_in: float = 0.0  # seconds from the start command to the realm's discovery document

    @property
    def log(self) -> Path:
        return self.state / "keycloak.log"

    @property
    def issuer(self) -> str:
        return f"{self.url}/realms/{REALM}"

    def start(self) -> KeycloakServer:
        external = os.environ.get("SAHAB_TEST_KEYCLOAK_URL")
        if external:
            self.url = external.rstrip("/")
            self._wait(time.monotonic() + 30)
            return self
        self.state.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        began = time.monotonic()
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [str(START), "--port", str(self.port), "--state", str(self.state)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self._wait(began + START_TIMEOUT)
        self.started_in = time.monotonic() - began
        return self

    def _wait(self, deadline: float) -> None:
        discovery = f"{self.issuer}/.well-known/openid-configuration"
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"Keycloak exited with code {self.process.returncode} before it was ready:\n{self._tail()}"
                )
            try:
                if httpx.get(discovery, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)  # polling a server that has no readiness event to await
        self.stop()
        raise RuntimeError(f"Keycloak did not serve {discovery} within {START_TIMEOUT} s:\n{self._tail()}")

    def _tail(self) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-40:])
        except OSError:
            return "(no log)"

    def java_pid(self) -> int:
        """The JVM: kc.sh runs it as its child, or execs it (under kc.sh's pid) after an augmentation."""
        assert self.process is not None
        pids = [self.process.pid]
        while pids:
            pid = pids.pop(0)
            if Path(f"/proc/{pid}/exe").resolve().name == "java":
                return pid
            pids += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        raise RuntimeError(f"no java process under {self.process.pid}")

    def memory_kib(self) -> dict[str, int]:
        """Rss and Pss of Keycloak's JVM."""
        values: dict[str, int] = {}
        for line in Path(f"/proc/{self.java_pid()}/smaps_rollup").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in {"Rss", "Pss"}:
                values[name] = int(rest.split()[0])
        return values

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


class KeycloakAdmin:
    """The few admin REST calls the tests and the recipe need, on the sahab realm."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=f"{url}/admin/realms/{REALM}", timeout=30)
        self._token = ""
        self._token_until = 0.0

    def _headers(self) -> dict[str, str]:
        if time.monotonic() > self._token_until:
            response = httpx.post(
                f"{self.url}/realms/master/protocol/openid-connect/token",
                timeout=30,
                data={"grant_type": "password", "client_id": "admin-cli", "username": ADMIN[0], "password": ADMIN[1]},
            )
            response.raise_for_status()
            self._token = response.json()["access_token"]
            self._token_until = time.monotonic() + 30
        return {"Authorization": f"Bearer {self._token}"}

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self.http.request(method, path, headers=self._headers(), **kwargs)
        assert response.is_success, f"{method} {path}: {response.status_code} {response.text}"
        return response

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params).json()

    def created_id(self, response: httpx.Response) -> str:
        return response.headers["Location"].rstrip("/").rsplit("/", 1)[-1]

    # ------------------------------------------------------------------ objects

    def client(self, client_id: str) -> dict[str, Any]:
        (found,) = self.get("/clients", clientId=client_id)
        return found

    def group_id(self, path: str) -> str:
        return self.get(f"/group-by-path/{path.strip('/')}")["id"]

    def create_group(self, representation: dict[str, Any], parent: str | None = None) -> str:
        """A group (with its subGroups) from its JSON representation, as the recipe writes it."""
        where = f"/groups/{self.group_id(parent)}/children" if parent else "/groups"
        body = {k: v for k, v in representation.items() if k != "subGroups"}
        group_id = self.created_id(self.request("POST", where, json=body))
        path = f"{parent or ''}/{representation['name']}"
        for child in representation.get("subGroups", []):
            self.create_group(child, parent=path)
        return group_id

    def create_user(self, username: str | None = None, password: str = "", groups: tuple[str, ...] = ()) -> User:
        username = username or f"user-{uuid.uuid4().hex[:8]}"
        password = password or uuid.uuid4().hex
        user_id = self.created_id(
            self.request(
                "POST",
                "/users",
                json={
                    "username": username,
                    "enabled": True,
                    "email": f"{username}@example.org",
                    "emailVerified": True,
                    "firstName": username.title(),
                    "lastName": "Tester",
                    "credentials": [{"type": "password", "value": password, "temporary": False}],
                },
            )
        )
        for group in groups:
            self.join(user_id, group)
        return User(id=user_id, username=username, password=password)

    def join(self, user_id: str, group_path: str) -> None:
        self.request("PUT", f"/users/{user_id}/groups/{self.group_id(group_path)}")

    def service_account(self, client_id: str) -> str:
        return self.get(f"/clients/{self.client(client_id)['id']}/service-account-user")["id"]

    def set_client_attributes(self, client_id: str, **attributes: str) -> dict[str, str]:
        """Changes the client's attributes; returns the previous values of those that were set."""
        representation = self.client(client_id)
        previous = {k: representation["attributes"].get(k, "") for k in attributes}
        representation["attributes"].update(attributes)
        self.request("PUT", f"/clients/{representation['id']}", json=representation)
        return previous

    # ------------------------------------------------------------------ keys

    def realm_id(self) -> str:
        return self.get("")["id"]

    def active_rs256_kid(self) -> str:
        return self.get("/keys")["active"]["RS256"]

    def add_rsa_key(self, name: str, priority: int) -> str:
        """A new generated RSA signing key provider; the highest priority signs new tokens."""
        return self.created_id(
            self.request(
                "POST",
                "/components",
                json={
                    "name": name,
                    "providerId": "rsa-generated",
                    "providerType": "org.keycloak.keys.KeyProvider",
                    "parentId": self.realm_id(),
                    "config": {
                        "priority": [str(priority)],
                        "enabled": ["true"],
                        "active": ["true"],
                        "algorithm": ["RS256"],
                        "keySize": ["2048"],
                    },
                },
            )
        )

    def key_provider_of(self, kid: str) -> str:
        (provider,) = [k["providerId"] for k in self.get("/keys")["keys"] if k["kid"] == kid]
        return provider

    def delete_component(self, component_id: str) -> None:
        self.request("DELETE", f"/components/{component_id}")

    def close(self) -> None:
        self.http.close()


@dataclass(frozen=True)
class User:
    id: str
    username: str
    password: str


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    submits: list[tuple[str, str]] = field(default_factory=list)  # (name, value) of submit buttons
    text_inputs: list[str] = field(default_factory=list)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(action=a.get("action", ""), method=a.get("method", "get").lower()))
        elif self.forms and tag in {"input", "button"}:
            form, kind, name = (
                self.forms[-1],
                a.get("type", "text" if tag == "input" else "submit").lower(),
                a.get("name", ""),
            )
            if kind == "submit":
                if name:
                    form.submits.append((name, a.get("value", "")))
            elif name and kind in {"hidden", "checkbox"}:
                if kind == "hidden" or "checked" in a:
                    form.fields[name] = a.get("value", "")
            elif name:
                form.fields[name] = a.get("value", "")
                form.text_inputs.append(name)


class Browser:
    """Fills and submits the forms of server-rendered pages, keeping cookies across redirects."""

    def __init__(self) -> None:
        # Keycloak serves the device authorization request (JSON) and the device page's form (HTML) at one
        # URL and tells them apart by what the client accepts, as a browser says.
        self.http = httpx.Client(
            follow_redirects=True,
            timeout=30,
            event_hooks={"response": [self._loopback_is_secure]},
            headers={"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
        )
        self.page: httpx.Response | None = None

    def _loopback_is_secure(self, response: httpx.Response) -> None:
        """Browsers treat http://127.0.0.1 as a secure context and send it the `Secure` cookies Keycloak sets
        (its login session); Python's cookie jar would not send them over plain HTTP."""
        if response.url.host in {"127.0.0.1", "localhost", "::1"}:
            for cookie in self.http.cookies.jar:
                cookie.secure = False

    def open(self, url: str) -> httpx.Response:
        self.page = self.http.get(url)
        return self.page

    def forms(self) -> list[Form]:
        assert self.page is not None
        parser = _FormParser()
        parser.feed(self.page.text)
        return parser.forms

    def form_with(self, *names: str) -> Form:
        for form in self.forms():
            if all(n in form.fields or n in dict(form.submits) for n in names):
                return form
        raise AssertionError(f"no form with {names} on {self.page.url if self.page else '-'}:\n{self.text()[:2000]}")

    def submit(
        self, form: Form, values: dict[str, str] | None = None, button: str | None = None, follow_redirects: bool = True
    ) -> httpx.Response:
        """Submit `form`; with follow_redirects=False the redirect itself is returned (the page stays)."""
        assert self.page is not None
        data = {**form.fields, **(values or {})}
        if button is not None:
            data[button] = dict(form.submits)[button]
        url = urljoin(str(self.page.url), form.action)
        if form.method == "post":
            response = self.http.post(url, data=data, follow_redirects=follow_redirects)
        else:
            response = self.http.get(url, params=data, follow_redirects=follow_redirects)
        if follow_redirects:
            self.page = response
        return response

    def text(self) -> str:
        return self.page.text if self.page is not None else ""

    def close(self) -> None:
        self.http.close()


def approve_device(verification_uri: str, user_code: str, username: str, password: str) -> str:
    """What a person does in a browser after `sahab login`: open the verification page, type the code,
    sign in, grant the access. Returns the text of the last page."""
    browser = Browser()
    try:
        browser.open(verification_uri)
        browser.submit(browser.form_with("device_user_code"), {"device_user_code": user_code})
        browser.submit(browser.form_with("username", "password"), {"username": username, "password": password})
        if any("accept" in dict(f.submits) for f in browser.forms()):  # the client asks for consent
            browser.submit(browser.form_with("accept"), button="accept")
        assert browser.page is not None and browser.page.status_code == 200, browser.text()[:2000]
        return browser.text()
    finally:
        browser.close()


DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def device_token(issuer: str, user: User, client_id: str = "sahab-cli") -> dict[str, Any]:
    """A person's tokens by the device flow, approved at once (one poll, no waiting for the interval)."""
    endpoints = httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=30).json()
    grant = httpx.post(
        endpoints["device_authorization_endpoint"],
        timeout=30,
        data={"client_id": client_id, "scope": "openid profile email"},
    ).json()
    approve_device(grant["verification_uri"], grant["user_code"], user.username, user.password)
    response = httpx.post(
        endpoints["token_endpoint"],
        timeout=30,
        data={"grant_type": DEVICE_CODE_GRANT, "device_code": grant["device_code"], "client_id": client_id},
    )
    assert response.status_code == 200, response.text
    return response.json()


def _jwt_part(token: str, index: int) -> dict[str, Any]:
    segment = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def decode_header(token: str) -> dict[str, Any]:
    return _jwt_part(token, 0)


def decode_claims(token: str) -> dict[str, Any]:
    """The payload, unverified: what Keycloak's mappers put in the token."""
    return _jwt_part(token, 1)


def client_credentials_token(issuer: str, client_id: str, secret: str) -> str:
    response = httpx.post(
        f"{issuer}/protocol/openid-connect/token",
        auth=(client_id, secret),
        timeout=30,
        data={"grant_type": "client_credentials"},
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


# ---------------------------------------------------------------- the README's recipe

README = ROOT / "README.md"


def recipe() -> str:
    """The README's "Using Keycloak" section, up to the next heading."""
    text = README.read_text()
    start = text.index("### Using Keycloak")
    end = min(i for i in (text.find("\n## ", start), text.find("\n### ", start + 1)) if i != -1)
    return text[start:end]


def recipe_settings() -> dict[str, str]:
    """The SAHAB_* lines of the recipe's sh block, as Settings keyword arguments."""
    block = re.search(r"```sh\n(.*?)```", recipe(), re.S)
    assert block, "the recipe has no ```sh block of settings"
    pairs = (line.split("=", 1) for line in block.group(1).splitlines() if line.strip())
    return {name.removeprefix("SAHAB_").lower(): value for name, value in pairs}


def recipe_group(organisation_id: str) -> dict[str, Any]:
    """The recipe's group for a new organisation, for this organisation id."""
    block = re.search(r"```json\n(.*?)```", recipe(), re.S)
    assert block, "the recipe has no ```json group"
    return json.loads(block.group(1).replace("org_x", organisation_id))


class ShiftedClock:
    """Real time plus an offset the test moves forward: lets the verifier's JWKS cache age without sleeping."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@dataclass
class Sahab:
    url: str
    settings: Settings
    runtime: ApiRoot
    keycloak: KeycloakServer
    admin: KeycloakAdmin

    def organisation(self, **kwargs: Any) -> str:
        """A verified organisation with no member in Sahab's own list, and its Keycloak group (the recipe's)."""
        with transaction(self.runtime.sessions) as session:
            organisation_id = factories.organisation(session, admin=None, **kwargs).id
        self.admin.create_group(recipe_group(organisation_id))
        return organisation_id

    def person(self, *groups: str) -> User:
        return self.admin.create_user(groups=groups)


def recipe_applied(keycloak: KeycloakServer, **overrides: Any) -> Settings:
    """Settings from the recipe's block; the issuer keeps the recipe's realm path on the test Keycloak."""
    values: dict[str, Any] = recipe_settings()
    path = re.sub(r"^https?://[^/]+", "", values["oidc_issuer"])
    assert path == f"/realms/{REALM}", values["oidc_issuer"]
    values["oidc_issuer"] = keycloak.url + path
    values.update(overrides)
    return Settings(**values)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def config_home(tmp_path: Path) -> Path:
    home = tmp_path / "xdg"
    home.mkdir(exist_ok=True)
    return home


# ---------------------------------------------------------------- the CLI, as its console script

SAHAB = Path(sys.executable).parent / "sahab"


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"SAHAB_CLIENT_ID", "SAHAB_CLIENT_SECRET", "SAHAB_API_URL"}}
    return {**env, "XDG_CONFIG_HOME": str(home), "COLUMNS": "200", **extra}


def run_cli(home: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """`sahab ARGS` with no terminal and nothing on stdin: a command that wanted to prompt would fail."""
    return subprocess.run(
        [str(SAHAB), *args],
        env=cli_env(home, **extra),
        text=True,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def cli_login_by_device(
    home: Path, api_url: str, user: User, approve: Callable[[str, str, User], Any] | None = None
) -> subprocess.CompletedProcess[str]:
    """`sahab login --api URL`, approved in the browser (`approve(url, code, user)`, Keycloak's pages by
    default) from the URL and code the CLI prints."""
    process = subprocess.Popen(
        [str(SAHAB), "login", "--api", api_url],
        env=cli_env(home),
        text=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        seen: list[str] = []
        for line in process.stdout:
            seen.append(line)
            code = re.search(r"enter the code: (\S+)", line)
            if code:
                break
        else:
            raise AssertionError(
                f"sahab login printed no code: {''.join(seen)} {process.stderr.read() if process.stderr else ''}"
            )
        url = re.search(r"https?://\S+/device\b", "".join(seen))
        assert url, "".join(seen)
        if approve is None:
            approve_device(url.group(0), code.group(1), user.username, user.password)
        else:
            approve(url.group(0), code.group(1), user)
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return subprocess.CompletedProcess(process.args, process.returncode, "".join(seen) + out, err)
