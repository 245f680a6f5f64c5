"""What every portal page shares: who is browsing (from the session cookie, with the token verified
as the API verifies it), the language, rendering, CSRF, and turning the core's errors into pages.

A page is never more than the API would answer the same person: every page calls the same
controlplane services with the same Principal, so the services' access rules apply unchanged.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from api.portal import i18n, words
from api.portal.oidc import OidcClient
from api.portal.sessions import SESSION_COOKIE, CookieSealer, PortalSession
from api.problems import status_for
from controlplane.composition import ApiRoot
from controlplane.domain.principal import Principal
from controlplane.errors import AuthenticationFailed, SahabError

TEMPLATES = Path(__file__).parent / "templates"


# Pages hold people's data: never cached, never framed (clickjacking), forms only back to the portal.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "frame-ancestors 'none'; form-action 'self'; object-src 'none'; base-uri 'none'",
}


class SignInRequired(Exception):
    """No session, an ended one, or tokens the issuer no longer renews: back to sign-in."""


class CsrfRefused(Exception):
    """A form came without this session's CSRF token."""


@dataclass
class Portal:
    """Built once per app, kept in app.state.portal."""

    runtime: ApiRoot
    sealer: CookieSealer
    oidc: OidcClient
    environments: dict[str, Environment] = field(default_factory=dict)

    def environment(self, language: i18n.Language) -> Environment:
        if language.code not in self.environments:
            environment = Environment(
                loader=FileSystemLoader(TEMPLATES),
                autoescape=select_autoescape(["html"]),
                extensions=["jinja2.ext.i18n"],
                trim_blocks=True,
                lstrip_blocks=True,
            )
            translations = i18n.translations(language.code)
            environment.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
            environment.filters["reason"] = partial(words.explain, translations.gettext)
            self.environments[language.code] = environment
        return self.environments[language.code]


@dataclass
class Visitor:
    """A signed-in person as a page sees them."""

    principal: Principal
    session: PortalSession
    language: i18n.Language

    def gettext(self, message: str, **values: Any) -> str:
        text = i18n.translations(self.language.code).gettext(message)
        return text % values if values else text


def portal_of(request: Request) -> Portal:
    portal: Portal = request.app.state.portal
    return portal


def safe_next(value: str | None) -> str:
    """Only a path of the portal itself: never an open redirect."""
    if value and value.startswith("/portal") and not value.startswith("//") and "\\" not in value:
        return value
    return "/portal"


async def visitor(request: Request) -> Visitor:
    """The signed-in person, or SignInRequired. An expired access token is renewed with the refresh
    token; the renewed session is written back by PortalRoute."""
    portal = portal_of(request)
    language = i18n.choose(request)
    session = portal.sealer.session(request.cookies.get(SESSION_COOKIE))
    now = portal.runtime.deps.clock.now()
    if session is None or session.ended(now):
        raise SignInRequired()
    verifier = request.app.state.verifier
    try:
        principal = await run_in_threadpool(verifier.verify, session.access_token)
    except AuthenticationFailed:
        if not session.refresh_token:
            raise SignInRequired() from None
        try:
            tokens = await portal.oidc.refresh(session.refresh_token)
            principal = await run_in_threadpool(verifier.verify, tokens["access_token"])
        except AuthenticationFailed:
            raise SignInRequired() from None
        session = session.with_tokens(tokens["access_token"], tokens.get("refresh_token"))
        request.state.renewed_session = session
    return Visitor(principal=principal, session=session, language=language)


async def form_of(request: Request, who: Visitor) -> dict[str, str]:
    """The posted form, refused unless it carries this session's CSRF token."""
    form = await request.form()
    values = {key: value for key, value in form.items() if isinstance(value, str)}
    if not who.session.csrf_matches(values.get("csrf", "")):
        raise CsrfRefused()
    return values


def render(request: Request, who: Visitor | None, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    language = who.language if who else i18n.choose(request)
    portal = portal_of(request)
    principal = who.principal if who else None
    body = (
        portal.environment(language)
        .get_template(template)
        .render(
            request=request,
            who=who,
            principal=principal,
            lang=language,
            languages=i18n.LANGUAGES,
            fmt=i18n.Formats(language),
            csrf=who.session.csrf if who else "",
            path=request.url.path,
            here=str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
            **words.context(),
            **context,
        )
    )
    return HTMLResponse(body, status_code=status, headers=PAGE_HEADERS)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


def sign_in_url(request: Request) -> str:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/portal/signin?next={quote(safe_next(here), safe='')}"


def error_status(error: SahabError) -> int:
    return status_for(error)


class PortalRoute(APIRoute):
    """Portal routes answer HTML whatever happens: sign-in redirects, CSRF refusals and the core's
    errors become pages (never the API's problem+json), and a renewed session is written back."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                response = await handler(request)
            except SignInRequired:
                response = redirect(sign_in_url(request)) if request.method == "GET" else redirect("/portal/signin")
                portal_of(request).sealer.clear(response, SESSION_COOKIE)
                return response
            except CsrfRefused:
                return render(request, None, "error.html", status=403, kind="csrf")
            except SahabError as error:
                return render(
                    request,
                    _visitor_if_any(request),
                    "error.html",
                    status=error_status(error),
                    kind="error",
                    error=error,
                )
            renewed = getattr(request.state, "renewed_session", None)
            if renewed is not None:
                portal_of(request).sealer.set_session(response, renewed, portal_of(request).runtime.deps.clock.now())
            return response

        return handle


def _visitor_if_any(request: Request) -> Visitor | None:
    return getattr(request.state, "visitor", None)


def remember(request: Request, who: Visitor) -> Visitor:
    """Error pages keep the header of the signed-in person."""
    request.state.visitor = who
    return who


def new_nonce() -> str:
    return secrets.token_urlsafe(16)
