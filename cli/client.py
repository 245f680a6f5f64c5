"""The HTTP client: base URL, bearer token, and problem+json -> CliError."""

from __future__ import annotations

import os
from typing import Any, Protocol

import httpx

from cli import errors
from cli.errors import CliError
from cli.i18n import _, language


class TokenSource(Protocol):
    def token(self) -> str:
        """The access token to send."""

    def renew(self, refused: str) -> bool:
        """After a 401 for `refused`: whether another token is now available."""


def _timeout() -> float:
    try:
        return float(os.environ.get("SAHAB_HTTP_TIMEOUT", "30"))
    except ValueError:
        return 30.0


def transport_error(url: str, error: httpx.HTTPError) -> CliError:
    if isinstance(error, httpx.TimeoutException):
        return CliError(
            _("Timed out"),
            _("no answer from {url} in time ({error})").format(url=url, error=type(error).__name__),
            exit_code=errors.UNAVAILABLE,
        )
    if isinstance(error, httpx.ConnectError):
        return CliError(_("Cannot connect"), f"{url}: {error}", exit_code=errors.UNAVAILABLE)
    return CliError(_("Connection failed"), f"{url}: {error}", exit_code=errors.UNAVAILABLE)


def decode(response: httpx.Response) -> Any:
    if response.status_code == 204 or not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text


class Api:
    def __init__(self, base_url: str, token: TokenSource | None = None, timeout: float | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout or _timeout(),
            headers={
                "User-Agent": "sahab-cli/0.1",
                "Accept": "application/json",
                # Problem titles and details come back in the user's language.
                "Accept-Language": language(),
            },
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        auth: bool = True,
    ) -> Any:
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        sent = dict(headers or {})
        token = self._token if auth else None
        bearer = token.token() if token is not None else None
        response = self._send(method, path, clean, json, sent, bearer)
        if response.status_code == 401 and token is not None and bearer is not None and token.renew(bearer):
            # The token was refused (expired earlier than the local clock says): once more with a fresh one.
            response = self._send(method, path, clean, json, sent, token.token())
        body = decode(response)
        if response.is_success:
            return body
        raise CliError.from_problem(response.status_code, body)

    def _send(
        self, method: str, path: str, params: dict[str, Any], json: Any, headers: dict[str, str], bearer: str | None
    ) -> httpx.Response:
        if bearer is not None:
            headers = {**headers, "Authorization": f"Bearer {bearer}"}
        try:
            return self._http.request(method, path, params=params, json=json, headers=headers)
        except httpx.HTTPError as error:
            raise transport_error(self.base_url, error) from None

    def download(self, path: str, params: dict[str, Any] | None = None) -> bytes:
        """A document (CSV, PDF) as bytes; a problem answer raises like any other request."""
        token = self._token
        bearer = token.token() if token is not None else None
        response = self._send(
            "GET", path, {k: v for k, v in (params or {}).items() if v is not None}, None, {"Accept": "*/*"}, bearer
        )
        if response.status_code == 401 and token is not None and bearer is not None and token.renew(bearer):
            response = self._send("GET", path, params or {}, None, {"Accept": "*/*"}, token.token())
        if response.is_success:
            return response.content
        raise CliError.from_problem(response.status_code, decode(response))

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Any:
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Any:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("DELETE", path, **kwargs)

    def page(self, path: str, params: dict[str, Any] | None = None, *, all_pages: bool = False) -> dict[str, Any]:
        """A PageOut ({items, next_cursor}); with all_pages, every page's items joined (next_cursor null)."""
        params = dict(params or {})
        result = self.get(path, params=params)
        items = list(result.get("items", []))
        cursor = result.get("next_cursor")
        while all_pages and cursor:
            more = self.get(path, params={**params, "cursor": cursor})
            items.extend(more.get("items", []))
            cursor = more.get("next_cursor")
        return {"items": items, "next_cursor": cursor}
