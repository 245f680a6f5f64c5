"""login, logout, whoami."""

from __future__ import annotations

from contextlib import nullcontext
from datetime import UTC, datetime
from typing import Any

import typer

from cli import auth as flows
from cli import config
from cli.context import handled, state
from cli.errors import CliError, not_authenticated, usage
from cli.i18n import N_, _, moment
from cli.output import JSON, console, details, echo, print_json


def register(app: typer.Typer) -> None:
    app.command()(login)
    app.command()(logout)
    app.command()(whoami)


@handled
def login(
    ctx: typer.Context,
    api: str | None = typer.Option(None, "--api", metavar="URL", help="API base URL; remembered in config.json"),
    client_id: str | None = typer.Option(
        None, "--client-id", envvar="SAHAB_CLIENT_ID", help="client credentials grant (automation)"
    ),
    client_secret: str | None = typer.Option(
        None, "--client-secret", envvar="SAHAB_CLIENT_SECRET", help="the client's secret"
    ),
) -> None:
    """Sign in: the device flow in a browser, or client credentials with --client-id/--client-secret."""
    current = state(ctx)
    if api:
        current.api_url = api.rstrip("/")
    if bool(client_id) != bool(client_secret):
        raise usage(_("give both --client-id and --client-secret (or SAHAB_CLIENT_ID and SAHAB_CLIENT_SECRET)"))
    if client_id and client_secret:
        credentials = flows.client_credentials(current.api_url, client_id, client_secret)
    else:
        credentials = flows.device_login(current.api_url, _show_code, _spinner)
    config.save_credentials(credentials)
    config.save_config({**config.load_config(), "api_url": current.api_url})
    claims = flows.decode_claims(credentials.access_token)
    who = claims.get("name") or claims.get("sub")
    if credentials.refresh_expires_at:
        said = _("Logged in to {api} as {who} ({subject}); token valid until {expires}; session renewed until {until}.")
    elif credentials.refresh_token:
        said = _("Logged in to {api} as {who} ({subject}); token valid until {expires}; renewed by its refresh token.")
    else:
        said = _("Logged in to {api} as {who} ({subject}); token valid until {expires}.")
    echo(
        said.format(
            api=current.api_url,
            who=who,
            subject=claims.get("sub"),
            expires=_time(credentials.expires_at),
            until=_time(credentials.refresh_expires_at) if credentials.refresh_expires_at else "",
        )
    )


def _show_code(grant: dict[str, Any]) -> None:
    echo(_("To sign in, open this page in a browser:"))
    echo(f"  {grant.get('verification_uri')}")
    echo(_("and enter the code: {code}").format(code=grant.get("user_code")))
    if grant.get("verification_uri_complete"):
        echo(_("(or open {url})").format(url=grant["verification_uri_complete"]))


def _spinner() -> Any:
    err = console(stderr=True)
    return err.status(_("Waiting for the sign-in to be approved...")) if err.is_terminal else nullcontext()


@handled
def logout() -> None:
    """Revoke the refresh token at the issuer (where it supports RFC 7009) and delete the stored tokens."""
    stored = config.load_credentials()
    try:
        revoked_at = flows.revoke(stored) if stored is not None else None
    except CliError as error:
        config.delete_credentials()
        error.detail += _("; the local tokens were deleted, but the refresh token may stay valid until it expires")
        raise
    if not config.delete_credentials():
        echo(_("Not logged in."))
    elif revoked_at:
        echo(_("Logged out; the session was revoked at {time}.").format(time=revoked_at))
    elif stored is not None and stored.refresh_token:
        echo(
            _(
                "Logged out; the identity provider offers no revocation, so the session ends when its refresh token "
                "expires."
            )
        )
    else:
        echo(_("Logged out."))


@handled
def whoami(ctx: typer.Context) -> None:
    """Who the stored token says you are (decoded locally, not verified)."""
    current = state(ctx)
    stored = config.load_credentials()
    if stored is None:
        raise not_authenticated()
    if stored.expired() and stored.refreshable() and config.same_api(stored.api_url, current.api_url):
        stored = flows.refresh(stored)
    claims = flows.decode_claims(stored.access_token)
    if current.output == JSON:
        print_json(claims)
    else:
        console().print(
            details(
                [
                    (N_("subject"), claims.get("sub")),
                    (N_("name"), claims.get("name")),
                    (N_("email"), claims.get("email")),
                    (N_("roles"), ", ".join(claims.get("sahab_roles") or []) or "-"),
                    (N_("organisations"), ", ".join(claims.get("sahab_orgs") or []) or "-"),
                    (N_("issuer"), claims.get("iss")),
                    (N_("obtained by"), stored.grant),
                    (N_("api"), stored.api_url),
                    (N_("session"), _session(stored)),
                    (N_("expires"), _time(stored.expires_at) + (_(" (expired)") if stored.expired(margin=0) else "")),
                ]
            )
        )
    if stored.expired(margin=0):
        raise CliError(N_("Not authenticated"), _("the stored token expired; run `sahab login`"), exit_code=3)


def _session(stored: config.Credentials) -> str:
    if not stored.refresh_token:
        return _("ends with the token")
    if stored.refresh_expires_at:
        return _("renewed until {time}").format(time=_time(stored.refresh_expires_at))
    return _("renewed by its refresh token")


def _time(epoch: float) -> str:
    return moment(datetime.fromtimestamp(epoch, UTC)) + " UTC"
