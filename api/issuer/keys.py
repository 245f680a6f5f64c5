"""The built-in issuer's signing key: generated once, persisted, shared between processes.

Stored as a private JWK at {data_dir}/issuer/signing-key.json (mode 0600). Two
processes starting at once serialise on an flock'ed lock file; the key is
written to a temporary file and renamed into place, so a reader never sees a
half-written key, and everyone re-reads the file that won.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from api.jose import JsonWebKey

KEY_FILE = "signing-key.json"
LOCK_FILE = "signing-key.lock"
DEFAULT_ALG = "RS256"

_GENERATE = {
    "RS256": ("RSA", 2048),
    "PS256": ("RSA", 2048),
    "ES256": ("EC", "P-256"),
}


def key_path(data_dir: Path) -> Path:
    return Path(data_dir) / "issuer" / KEY_FILE


def load_or_create_signing_key(data_dir: Path, alg: str = DEFAULT_ALG) -> Any:
    """Return the issuer's private key (an authlib key with `kid` and `alg`), creating it if needed."""
    path = key_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.exists():
        return _read(path)
    lock_fd = os.open(path.parent / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        if not path.exists():  # nobody created it while we waited for the lock
            _write(path, _generate(alg))
        return _read(path)
    finally:
        fcntl.flock(lock_fd, fcntl.LOCK_UN)
        os.close(lock_fd)


def _generate(alg: str) -> dict[str, Any]:
    if alg not in _GENERATE:
        raise ValueError(f"the built-in issuer cannot sign with {alg}; choose one of {sorted(_GENERATE)}")
    kty, size = _GENERATE[alg]
    key = JsonWebKey.generate_key(kty, size, is_private=True)
    jwk: dict[str, Any] = key.as_dict(is_private=True)
    jwk.update(kid=key.thumbprint(), alg=alg, use="sig")
    return jwk


def _write(path: Path, jwk: dict[str, Any]) -> None:
    # A new file of a random name (O_CREAT|O_EXCL, 0600: a planted symlink is never followed),
    # then renamed over `path`, which replaces a symlink there rather than writing through it.
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(jwk, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _read(path: Path) -> Any:
    jwk = json.loads(path.read_text())
    if not isinstance(jwk, dict) or "d" not in jwk or "kid" not in jwk:
        raise ValueError(f"{path} does not hold a private JWK with a kid; delete it to generate a new key")
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)
    jwk.setdefault("alg", DEFAULT_ALG)
    return JsonWebKey.import_key(jwk)


def public_jwk(private_key: Any) -> dict[str, Any]:
    """The public half, as published at /jwks."""
    private = private_key.as_dict(is_private=True)
    public = private_key.as_dict(is_private=False)
    public = {k: v for k, v in public.items() if k not in {"d", "p", "q", "dp", "dq", "qi", "key_ops"}}
    public.update(kid=private["kid"], alg=private.get("alg", DEFAULT_ALG), use="sig")
    return public


def builtin_jwks(data_dir: Path) -> dict[str, Any]:
    """The built-in issuer's public key set, read (or created) from data_dir, as /jwks serves it."""
    return {"keys": [public_jwk(load_or_create_signing_key(data_dir))]}
