from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.fakes import RecordingQueue
from tests.support.portal import PortalUser, ServedSahab, served_sahab


@pytest.fixture
def sahab(database_url: str, tmp_path: Path) -> Iterator[ServedSahab]:
    """Sahab with the built-in issuer and its demo accounts; tasks are recorded, not run."""
    with served_sahab(database_url, tmp_path / "data", queue=RecordingQueue()) as served:
        yield served


@pytest.fixture
def browser_of(sahab: ServedSahab) -> Iterator[Callable[..., PortalUser]]:
    opened: list[PortalUser] = []

    def open_as(username: str | None = None, accept_language: str = "en") -> PortalUser:
        user = PortalUser(sahab, accept_language)
        opened.append(user)
        if username:
            response = user.sign_in(username, f"{username}-demo")
            assert response.status_code == 200 and str(response.url).endswith("/portal"), response.text[:500]
        return user

    yield open_as
    for user in opened:
        user.close()
