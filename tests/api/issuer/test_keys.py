"""The issuer's signing key is written as the CLI writes its secrets: never through a planted symlink."""

from __future__ import annotations

import os
from pathlib import Path

from api.issuer.keys import key_path, load_or_create_signing_key


def test_the_key_is_private_and_a_planted_symlink_receives_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    path = key_path(data_dir)
    path.parent.mkdir(parents=True)
    bait = tmp_path / "bait"
    bait.write_text("")
    # The fixed temporary names of the old writer, planted for every likely pid.
    for pid in range(os.getpid() - 5, os.getpid() + 5):
        (path.parent / f".{path.name}.{pid}.tmp").symlink_to(bait)

    load_or_create_signing_key(data_dir)

    assert bait.read_text() == ""
    assert path.is_file() and not path.is_symlink()
    assert path.stat().st_mode & 0o777 == 0o600
