"""Verifies OAuth2 bearer JWTs issued by the configured OIDC issuer.

FastAPI-free on purpose: the API's dependency layer calls
`TokenVerifier.verify(token)` and maps the errors it raises (AuthenticationFailed
-> 401, DependencyUnavailable -> 503); the CLI and tests can use it directly.

What is checked, in order:
  1. the token is a compact JWS (three parts) whose header parses;
  2. the header's `alg` is on the allow-list (settings.oidc_algorithms, asymmetric
     only), *before* any key is touched: `none` and HS256-with-the-public-key
     (algorithm confusion) never reach a signature check;
  3. the key named by `kid` is in the issuer's JWKS (found by OIDC discovery,
     cached for oidc_jwks_cache_seconds, fetched again on an unknown kid at most
     once every REFETCH_INTERVAL seconds so that random kids cannot make us
     hammer the issuer); the `jku`/`x5u` headers are ignored;
  4. the signature;
  5. iss == configured issuer, aud contains the configured audience, exp present
     and not past, nbf/iat not in the future (LEEWAY seconds either way), sub present
     (at most 255 characters, as OpenID Connect requires);
  6. it is an access token (RFC 9068): a header `typ` of at+jwt is one; with
     require_at_jwt nothing else is; otherwise an untyped (or "JWT") token is accepted
     unless it is evidently an ID token (nonce, at_hash, c_hash, s_hash, or Keycloak's
     typ claim "ID"), and any other typ is refused.

Stale-while-error: once the cache has expired, a failed refetch does not fail tokens
signed by a key already known, for up to `jwks_stale_seconds` past expiry; every failed
fetch is counted in sahab_jwks_refresh_failures_total.

Thread-safe: one lock guards the key cache and is held while fetching, so
concurrent requests wait for a single fetch instead of all fetching.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from typing import Any

import httpx
from prometheus_client import Counter

from api.issuer.keys import builtin_jwks
from api.jose import BadSignatureError, DecodeError, JoseError, JsonWebKey, JsonWebToken
from controlplane.clock import SystemClock
from controlplane.domain.principal import Principal
from controlplane.domain.states import MemberRole, PlatformRole
from controlplane.errors import AuthenticationFailed, DependencyUnavailable, Detail
from controlplane.ports import Clock

log = logging.getLogger(__name__)

JWKS_REFRESH_FAILURES = Counter(
    "sahab_jwks_refresh_failures_total", "Failed fetches of the OIDC issuer's discovery document or JWKS."
)
ACCESS_TOKEN_TYPES = {"at+jwt", "application/at+jwt"}
UNTYPED = {"jwt"}  # many identity providers type every token "JWT": it says nothing
ID_TOKEN_CLAIMS = ("nonce", "at_hash", "c_hash", "s_hash")
MAX_SUBJECT = 255

LEEWAY = 30  # seconds of clock skew tolerated on exp / nbf / iat
REFETCH_INTERVAL = 10  # seconds between JWKS fetches triggered by an unknown kid
FAILURE_BACKOFF = 2  # seconds during which a failed fetch is not retried
MAX_TOKEN_BYTES = 16 * 1024
HTTP_TIMEOUT = 5.0

_ASYMMETRIC_KTY = {"RSA", "EC", "OKP"}


def _b64url_json(segment: str) -> Any:
    padded = segment + "=" * (-len(segment) % 4)
    return json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class TokenVerifier:
    """Checks bearer tokens against one issuer and turns their claims into a Principal."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        algorithms: list[str] | tuple[str, ...],
        roles_claim: str = "sahab_roles",
        orgs_claim: str = "sahab_orgs",
        jwks_cache_seconds: int = 3600,
        jwks_stale_seconds: int = 86400,
        require_at_jwt: bool = False,
        clock: Clock | None = None,
        leeway: int = LEEWAY,
        refetch_interval: float = REFETCH_INTERVAL,
        http_timeout: float = HTTP_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        jwks: dict[str, Any] | None = None,
    ) -> None:
        """`jwks`: a fixed key set to verify against, with no discovery and no fetching
        (the built-in issuer's own keys, read from disk); unknown kids are then refused."""
        insecure = {a for a in algorithms if a.lower() == "none" or a.upper().startswith("HS")}
        if insecure:
            raise ValueError(f"only asymmetric algorithms may be allowed, not {sorted(insecure)}")
        if not issuer:
            raise ValueError("an issuer URL is required")
        self.issuer = issuer
        self.audience = audience
        self.algorithms = frozenset(algorithms)
        self.roles_claim = roles_claim
        self.orgs_claim = orgs_claim
        self.jwks_cache_seconds = jwks_cache_seconds
        self.jwks_stale_seconds = jwks_stale_seconds
        self.require_at_jwt = require_at_jwt
        self.leeway = leeway
        self.refetch_interval = refetch_interval
        self._clock: Clock = clock or SystemClock()
        self._http = httpx.Client(timeout=http_timeout, transport=transport, follow_redirects=False)
        self._lock = threading.Lock()
        self._jwks_uri: str | None = None
        self._keys: dict[str, Any] = {}  # kid -> authlib key
        self._unnamed_keys: list[Any] = []  # keys published without a kid
        self._fetched_at: float | None = None
        self._failed_at: float | None = None
        self._failure: str = ""
        self.fetch_count = 0  # JWKS documents fetched so far (observability, tests)
        self._static = jwks is not None
        if jwks is not None:
            self._keys, self._unnamed_keys = self._parse_jwks(jwks)

    @classmethod
    def from_settings(
        cls, settings: Any, clock: Clock | None = None, *, local_builtin_keys: bool = True, **overrides: Any
    ) -> TokenVerifier:
        """A verifier for the configured issuer.

        With the built-in issuer (settings.uses_builtin_issuer) and local_builtin_keys, its
        public key is read from settings.data_dir instead of fetched over HTTP: the API
        process would otherwise call itself through public_url, which may not be reachable
        from inside (proxies, TLS) and would stall if verification ever ran on the event loop.
        """
        if local_builtin_keys and settings.uses_builtin_issuer and "jwks" not in overrides:
            overrides["jwks"] = builtin_jwks(settings.data_dir)
        options: dict[str, Any] = dict(
            issuer=settings.oidc_issuer,
            audience=settings.oidc_audience,
            algorithms=list(settings.oidc_algorithms),
            roles_claim=settings.oidc_roles_claim,
            orgs_claim=settings.oidc_orgs_claim,
            jwks_cache_seconds=settings.oidc_jwks_cache_seconds,
            jwks_stale_seconds=settings.oidc_jwks_stale_seconds,
            # The built-in issuer always types its access tokens (RFC 9068).
            require_at_jwt=settings.oidc_require_at_jwt or settings.uses_builtin_issuer,
            clock=clock,
        )
        options.update(overrides)
        return cls(**options)

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------ verify

    def verify(self, token: str) -> Principal:
        """Return the Principal of a valid token; raise AuthenticationFailed otherwise.

        Raises DependencyUnavailable when the issuer's keys cannot be fetched.
        """
        header = self._parse_header(token)
        alg = header.get("alg")
        if not isinstance(alg, str) or not alg:
            raise AuthenticationFailed(Detail("token header has no algorithm (alg)"))
        if alg not in self.algorithms:
            raise AuthenticationFailed(
                Detail(
                    "token algorithm {alg} is not allowed (allowed: {allowed})",
                    alg=alg,
                    allowed=", ".join(sorted(self.algorithms)),
                )
            )
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise AuthenticationFailed(Detail("token key id (kid) is not a string"))
        key = self._key_for(kid)
        key_alg = key.as_dict().get("alg") if hasattr(key, "as_dict") else None
        if key_alg and key_alg != alg:
            raise AuthenticationFailed(
                Detail("token algorithm {alg} does not match the key's algorithm {key_alg}", alg=alg, key_alg=key_alg)
            )

        try:
            claims = JsonWebToken([alg]).decode(token, key)
        except BadSignatureError:
            raise AuthenticationFailed(Detail("signature verification failed")) from None
        except DecodeError as exc:
            raise AuthenticationFailed(Detail("malformed token: {reason}", reason=str(exc.error).lower())) from None
        except JoseError as exc:
            raise AuthenticationFailed(
                Detail("signature verification failed: {exc_error}", exc_error=exc.error)
            ) from None
        except (ValueError, TypeError) as exc:
            raise AuthenticationFailed(Detail("signature verification failed: {exc}", exc=exc)) from None
        claims = self._check_claims(dict(claims))
        self._check_token_type(header)
        self._refuse_id_token(header, claims)
        return self._principal(claims)

    # ------------------------------------------------------------------ parsing and claims

    def _parse_header(self, token: str) -> dict[str, Any]:
        if not isinstance(token, str) or not token:
            raise AuthenticationFailed(Detail("malformed token: empty"))
        if len(token) > MAX_TOKEN_BYTES:
            raise AuthenticationFailed(
                Detail("malformed token: longer than {max_bytes} bytes", max_bytes=MAX_TOKEN_BYTES)
            )
        parts = token.split(".")
        if len(parts) != 3:
            raise AuthenticationFailed(Detail("malformed token: expected a signed JWT (three dot-separated parts)"))
        try:
            header = _b64url_json(parts[0])
        except (ValueError, UnicodeError):
            raise AuthenticationFailed(Detail("malformed token: the header is not base64url-encoded JSON")) from None
        if not isinstance(header, dict):
            raise AuthenticationFailed(Detail("malformed token: the header is not a JSON object"))
        return header

    def _check_token_type(self, header: dict[str, Any]) -> None:
        typ = header.get("typ")
        kind = typ.lower() if isinstance(typ, str) else None
        if kind in ACCESS_TOKEN_TYPES:
            return
        if self.require_at_jwt:
            raise AuthenticationFailed(
                Detail("token type {typ!r} is not an access token: the header must say typ at+jwt (RFC 9068)", typ=typ)
            )
        if typ is not None and kind not in UNTYPED:
            raise AuthenticationFailed(
                Detail("token type {typ!r} is not an access token (expected at+jwt, RFC 9068)", typ=typ)
            )

    def _refuse_id_token(self, header: dict[str, Any], claims: dict[str, Any]) -> None:
        """An untyped token that carries what only ID tokens carry was meant for a client, not for Sahab."""
        if isinstance(header.get("typ"), str) and header["typ"].lower() in ACCESS_TOKEN_TYPES:
            return
        evidence = [name for name in ID_TOKEN_CLAIMS if name in claims]
        if claims.get("typ") == "ID":
            evidence.append("typ=ID")
        if evidence:
            raise AuthenticationFailed(
                Detail(
                    "an ID token is not an access token (it carries {evidence}); send the "
                    "access token from the token response",
                    evidence=", ".join(evidence),
                )
            )

    def _check_claims(self, claims: dict[str, Any]) -> dict[str, Any]:
        now = self._clock.now().timestamp()
        iss = claims.get("iss")
        if iss != self.issuer:
            raise AuthenticationFailed(
                Detail("token issuer {iss!r} is not the configured issuer {issuer!r}", iss=iss, issuer=self.issuer)
            )
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if self.audience not in audiences:
            raise AuthenticationFailed(
                Detail("token audience {aud!r} does not include {audience!r}", aud=aud, audience=self.audience)
            )
        exp = claims.get("exp")
        if exp is None:
            raise AuthenticationFailed(Detail("token has no expiry (exp)"))
        if not _is_number(exp):
            raise AuthenticationFailed(Detail("token expiry (exp) is not a number"))
        if now > exp + self.leeway:
            raise AuthenticationFailed(Detail("token expired"))
        nbf = claims.get("nbf")
        if nbf is not None and (not _is_number(nbf) or nbf > now + self.leeway):
            raise AuthenticationFailed(Detail("token not valid yet (nbf)"))
        iat = claims.get("iat")
        if iat is not None and (not _is_number(iat) or iat > now + self.leeway):
            raise AuthenticationFailed(Detail("token issued in the future (iat)"))
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise AuthenticationFailed(Detail("token has no subject (sub)"))
        if len(sub) > MAX_SUBJECT:
            raise AuthenticationFailed(
                Detail("token subject (sub) is longer than {max_length} characters", max_length=MAX_SUBJECT)
            )
        return claims

    def _principal(self, claims: dict[str, Any]) -> Principal:
        name = claims.get("name") or claims.get("preferred_username")
        email = claims.get("email")
        return Principal(
            subject=claims["sub"],
            issuer=claims["iss"],
            name=name if isinstance(name, str) else None,
            email=email if isinstance(email, str) else None,
            platform_roles=_platform_roles(claims.get(self.roles_claim)),
            claimed_organisations=_organisations(claims.get(self.orgs_claim)),
        )

    # ------------------------------------------------------------------ keys

    def _key_for(self, kid: str | None) -> Any:
        if self._static:
            key = self._lookup(kid)
            return key if key is not None else _no_key(kid)
        with self._lock:
            now = self._clock.now().timestamp()
            if self._fetched_at is None or now - self._fetched_at >= self.jwks_cache_seconds:
                self._refresh_or_keep(now)
            key = self._lookup(kid)
            if key is None and kid is not None and now - (self._fetched_at or 0.0) >= self.refetch_interval:
                # A kid we do not know: perhaps the issuer rotated its keys.
                self._refresh(now)
                key = self._lookup(kid)
            return key if key is not None else _no_key(kid)

    def _lookup(self, kid: str | None) -> Any:
        if kid is not None:
            return self._keys.get(kid)
        candidates = list(self._keys.values()) + self._unnamed_keys
        return candidates[0] if len(candidates) == 1 else None

    def _refresh_or_keep(self, now: float) -> None:
        """Refetch an expired key set; while the issuer fails, keep the known keys up to the stale bound."""
        try:
            self._refresh(now)
        except DependencyUnavailable:
            if self._fetched_at is None or now - self._fetched_at >= self.jwks_cache_seconds + self.jwks_stale_seconds:
                raise
            log.warning(
                "serving the issuer's keys fetched %.0f s ago while it cannot be reached", now - self._fetched_at
            )

    def _refresh(self, now: float) -> None:
        if self._failed_at is not None and now - self._failed_at < FAILURE_BACKOFF:
            raise DependencyUnavailable(self._failure)
        try:
            if self._jwks_uri is None:
                self._jwks_uri = self._discover()
            document = self._get_json(self._jwks_uri, "JWKS")
            keys, unnamed = self._parse_jwks(document)
        except DependencyUnavailable as exc:
            self._jwks_uri = None  # discover again next time, in case it moved
            self._failed_at, self._failure = now, exc.detail
            JWKS_REFRESH_FAILURES.inc()
            log.warning("%s", exc.detail)
            raise
        self.fetch_count += 1
        self._keys, self._unnamed_keys = keys, unnamed
        self._fetched_at, self._failed_at, self._failure = now, None, ""

    def _discover(self) -> str:
        url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        document = self._get_json(url, "discovery document")
        jwks_uri = document.get("jwks_uri") if isinstance(document, dict) else None
        if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
            raise DependencyUnavailable(
                Detail("issuer unreachable: {url} has no usable jwks_uri", url=url), issuer=self.issuer
            )
        return jwks_uri

    def _get_json(self, url: str, what: str) -> Any:
        try:
            response = self._http.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise DependencyUnavailable(
                Detail(
                    "issuer unreachable: cannot fetch the {what} from {url}: {error_type}: {exc}",
                    what=what,
                    url=url,
                    error_type=exc.__class__.__name__,
                    exc=exc,
                ),
                issuer=self.issuer,
            ) from None
        if response.status_code != 200:
            raise DependencyUnavailable(
                Detail(
                    "issuer unreachable: the {what} at {url} answered HTTP {response_status_code}",
                    what=what,
                    url=url,
                    response_status_code=response.status_code,
                ),
                issuer=self.issuer,
            )
        try:
            return response.json()
        except ValueError:
            raise DependencyUnavailable(
                Detail("issuer unreachable: the {what} at {url} is not JSON", what=what, url=url), issuer=self.issuer
            ) from None

    def _parse_jwks(self, document: Any) -> tuple[dict[str, Any], list[Any]]:
        entries = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(entries, list):
            raise DependencyUnavailable(Detail("issuer unreachable: the JWKS has no 'keys' list"), issuer=self.issuer)
        keys: dict[str, Any] = {}
        unnamed: list[Any] = []
        for entry in entries:
            if not isinstance(entry, dict) or entry.get("kty") not in _ASYMMETRIC_KTY:
                continue  # symmetric or unknown keys are never used to verify
            if entry.get("use", "sig") != "sig":
                continue
            public = {k: v for k, v in entry.items() if k not in {"d", "p", "q", "dp", "dq", "qi"}}
            try:
                key = JsonWebKey.import_key(public)
            except Exception as exc:  # noqa: BLE001 - one bad key must not hide the others
                log.warning("ignoring an unusable key in the issuer's JWKS: %s", exc)
                continue
            kid = entry.get("kid")
            if isinstance(kid, str) and kid:
                keys[kid] = key
            else:
                unnamed.append(key)
        return keys, unnamed


def _no_key(kid: str | None) -> Any:
    if kid is None:
        raise AuthenticationFailed(Detail("token has no key id (kid) and the issuer publishes several keys"))
    raise AuthenticationFailed(Detail("unknown key id {kid!r}", kid=kid))


def _platform_roles(value: Any) -> frozenset[PlatformRole]:
    if isinstance(value, str):
        value = value.split()
    if not isinstance(value, list):
        return frozenset()
    known = {role.value: role for role in PlatformRole}
    return frozenset(known[item] for item in value if isinstance(item, str) and item in known)


def _organisations(value: Any) -> dict[str, MemberRole]:
    """ "org_x" -> member, "org_x:admin" -> admin, "org_x:member" -> member; others ignored."""
    if isinstance(value, str):
        value = value.split()
    if not isinstance(value, list):
        return {}
    result: dict[str, MemberRole] = {}
    for item in value:
        if not isinstance(item, str) or not item:
            continue
        org, sep, role_name = item.partition(":")
        if not org:
            continue
        if not sep:
            role = MemberRole.MEMBER
        elif role_name in {r.value for r in MemberRole}:
            role = MemberRole(role_name)
        else:
            log.info("ignoring organisation claim %r: unknown role %r", item, role_name)
            continue
        if result.get(org) != MemberRole.ADMIN:  # the strongest claim wins
            result[org] = role
    return result
