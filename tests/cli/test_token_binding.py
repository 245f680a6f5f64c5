"""The stored token goes to the API it was obtained for, and to no other host."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.support.cli import Cli
from tests.support.identity import ServerThread


class Recorder:
    """Another host, answering anything, recording what it was sent."""

    def __init__(self) -> None:
        self.seen: list[dict[str, str]] = []

    async def answer(self, request: Request) -> JSONResponse:
        self.seen.append(dict(request.headers))
        return JSONResponse([])


@pytest.fixture
def other_host() -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder()
    app = Starlette(routes=[Route("/{path:path}", recorder.answer, methods=["GET", "POST"])])
    with ServerThread(app) as server:
        yield server.url, recorder


def test_the_token_is_not_sent_to_another_api(cli: Cli, other_host: tuple[str, Recorder]) -> None:
    url, recorder = other_host
    for args, env in (
        ((["--api", url, "regions"]), {}),
        ((["regions", "--api", url]), {}),
        ((["regions"]), {"SAHAB_API_URL": url}),
    ):
        result = cli(*args, user="amina", **env)
        assert result.exit_code == 3, result.output
        said = " ".join(result.stderr.split())
        assert f"the stored token was issued for {cli.served.url}, not {url}" in said
        assert f"run `sahab login --api {url}` to sign in there" in said
    assert recorder.seen == []


def test_the_same_api_written_differently_is_the_same_api(cli: Cli) -> None:
    spelled = cli.served.url.replace("http://", "HTTP://") + "/"
    result = cli("--api", spelled, "--output", "json", "regions", user="amina")
    assert result.exit_code == 0, result.stderr


def test_client_credentials_from_the_environment_get_a_token_for_the_api_in_use(
    cli: Cli, other_host: tuple[str, Recorder]
) -> None:
    """A stored client-credentials token of one API is not reused for another: the other is asked for its issuer."""
    url, recorder = other_host
    env = {"SAHAB_CLIENT_ID": "operator-automation", "SAHAB_CLIENT_SECRET": "operator-automation-secret"}
    assert (
        cli("login", "--client-id", env["SAHAB_CLIENT_ID"], "--client-secret", env["SAHAB_CLIENT_SECRET"]).exit_code
        == 0
    )
    result = cli("--api", url, "regions", **env)
    assert result.exit_code == 8 and "names no issuer" in result.stderr
    assert [h["authorization"] for h in recorder.seen if "authorization" in h] == []
    assert recorder.seen and all(h.get("user-agent", "").startswith("sahab-cli") for h in recorder.seen)
