"""Files under ${XDG_CONFIG_HOME:-~/.config}/sahab/: config.json (API URL) and
credentials.json (mode 0600: the tokens, their expiry, how they were obtained and
the API URL they were issued for)."""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

try:
    import fcntl
except ImportError:  # not POSIX: refreshes are not serialised between processes
    fcntl = None  # type: ignore[assignment]

DEFAULT_API_URL = "http://127.0.0.1:8080"


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "sahab"


def config_path() -> Path:
    return config_dir() / "config.json"


def credentials_path() -> Path:
    return config_dir() / "credentials.json"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError, OSError):
        return {}
    return data if isinstance(data, dict) else {}


_NEW_PRIVATE_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def write_private(path: Path, content: str) -> None:
    """Write a file readable by its owner only (0600), atomically, without following symlinks.

    The content goes to a new file with a random name, created with O_EXCL|O_NOFOLLOW
    (so a symlink or file planted there makes the open fail instead of receiving the
    secret), then renamed over `path` (rename replaces a symlink at `path`, never its target)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        try:
            fd = os.open(tmp, _NEW_PRIVATE_FILE, 0o600)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "w") as handle:
            os.fchmod(handle.fileno(), 0o600)  # whatever the umask
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def load_config() -> dict[str, Any]:
    return _read_json(config_path())


def _private_config_dir() -> None:
    """The directory of the tokens: created 0700, and made 0700 again if something opened it up."""
    directory = config_dir()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    if directory.stat().st_mode & 0o077:
        directory.chmod(0o700)


def save_config(data: dict[str, Any]) -> None:
    _private_config_dir()
    write_private(config_path(), json.dumps(data, indent=2) + "\n")


def resolve_api_url(flag: str | None) -> str:
    """--api, then SAHAB_API_URL, then config.json, then the default."""
    url = flag or os.environ.get("SAHAB_API_URL") or load_config().get("api_url") or DEFAULT_API_URL
    return str(url).rstrip("/")


def same_api(a: str, b: str) -> bool:
    """Whether two API URLs name the same API (scheme and host case, default port and a final / aside)."""
    return _normalised(a) == _normalised(b)


def _normalised(url: str) -> str:
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        return url
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != {"http": 80, "https": 443}.get(scheme):
        host = f"{host}:{port}"
    return urlunsplit((scheme, host, parts.path.rstrip("/"), parts.query, ""))


@dataclass
class Credentials:
    access_token: str
    expires_at: float  # epoch seconds
    grant: str  # "device_code" or "client_credentials"
    api_url: str  # the API the tokens were obtained for: they are sent to no other
    client_id: str | None = None
    issuer: str | None = None  # where the refresh token is redeemed and revoked
    refresh_token: str | None = None
    refresh_expires_at: float | None = None  # when the issuer said (Keycloak's refresh_expires_in)

    def expired(self, margin: float = 30.0) -> bool:
        return time.time() >= self.expires_at - margin

    def refreshable(self) -> bool:
        alive = self.refresh_expires_at is None or time.time() < self.refresh_expires_at
        return bool(self.refresh_token and self.issuer and alive)


def load_credentials() -> Credentials | None:
    data = _read_json(credentials_path())
    known = {f.name for f in fields(Credentials)}
    given = {"grant": "device_code", "api_url": "", **{k: v for k, v in data.items() if k in known}}
    try:
        credentials = Credentials(**given)
        credentials.expires_at = float(credentials.expires_at)
        if credentials.refresh_expires_at is not None:
            credentials.refresh_expires_at = float(credentials.refresh_expires_at)
    except (TypeError, ValueError):
        return None
    if not isinstance(credentials.access_token, str) or not isinstance(credentials.api_url, str):
        return None
    return credentials


def save_credentials(credentials: Credentials) -> None:
    _private_config_dir()
    write_private(credentials_path(), json.dumps(asdict(credentials), indent=2) + "\n")


@contextmanager
def credentials_lock() -> Iterator[None]:
    """Held while the tokens are refreshed, so that two commands running at once do not both
    redeem the same refresh token (an issuer that detects reuse would end the session)."""
    if fcntl is None:
        yield
        return
    path = config_dir() / "credentials.lock"
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def delete_credentials() -> bool:
    try:
        credentials_path().unlink()
        return True
    except FileNotFoundError:
        return False
