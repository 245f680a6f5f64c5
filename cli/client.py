"""The HTTP client: base URL, bearer token, and problem+json -> CliError."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import httpx

from cli import errors
from cli.errors import CliError

TokenProvider = Callable[[], str]


def _timeout() -> float:
    try:
        return float(os.environ.get("SAHAB_HTTP_TIMEOUT", "30"))
    except ValueError:
        return 30.0


def transport_error(url: str, error: httpx.HTTPError) -> CliError:
    if isinstance(error, httpx.TimeoutException):
        return CliError("Timed out", f"no answer from {url} in time ({type(error).__name__})", exit_code=errors.UNAVAILABLE)
    if isinstance(error, httpx.ConnectError):
        return CliError("Cannot connect", f"{url}: {error}", exit_code=errors.UNAVAILABLE)
    return CliError("Connection failed", f"{url}: {error}", exit_code=errors.UNAVAILABLE)


def decode(response: httpx.Response) -> Any:
    if response.status_code == 204 or not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text


class Api:
    def __init__(self, base_url: str, token: TokenProvider | None = None, timeout: float | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout or _timeout(),
                                  headers={"User-Agent": "sahab-cli/0.1", "Accept": "application/json"})

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "Api":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None,
                headers: dict[str, str] | None = None, auth: bool = True) -> Any:
        sent = dict(headers or {})
        if auth and self._token is not None:
            sent["Authorization"] = f"Bearer {self._token()}"
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self._http.request(method, path, params=clean, json=json, headers=sent)
        except httpx.HTTPError as error:
            raise transport_error(self.base_url, error) from None
        body = decode(response)
        if response.is_success:
            return body
        raise CliError.from_problem(response.status_code, body)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

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
