"""Files under ${XDG_CONFIG_HOME:-~/.config}/sahab/: config.json (API URL) and
credentials.json (mode 0600: access token, expiry, how it was obtained)."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

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


def write_private(path: Path, content: str) -> None:
    """Write a file readable by its owner only (0600), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def load_config() -> dict[str, Any]:
    return _read_json(config_path())


def save_config(data: dict[str, Any]) -> None:
    write_private(config_path(), json.dumps(data, indent=2) + "\n")


def resolve_api_url(flag: str | None) -> str:
    """--api, then SAHAB_API_URL, then config.json, then the default."""
    url = flag or os.environ.get("SAHAB_API_URL") or load_config().get("api_url") or DEFAULT_API_URL
    return str(url).rstrip("/")


@dataclass
class Credentials:
    access_token: str
    expires_at: float  # epoch seconds
    grant: str  # "device_code" or "client_credentials"
    api_url: str
    client_id: str | None = None

    def expired(self, margin: float = 30.0) -> bool:
        return time.time() >= self.expires_at - margin


def load_credentials() -> Credentials | None:
    data = _read_json(credentials_path())
    try:
        return Credentials(access_token=str(data["access_token"]), expires_at=float(data["expires_at"]),
                           grant=str(data.get("grant", "device_code")), api_url=str(data.get("api_url", "")),
                           client_id=data.get("client_id"))
    except (KeyError, TypeError, ValueError):
        return None


def save_credentials(credentials: Credentials) -> None:
    write_private(credentials_path(), json.dumps(asdict(credentials), indent=2) + "\n")


def delete_credentials() -> bool:
    try:
        credentials_path().unlink()
        return True
    except FileNotFoundError:
        return False
