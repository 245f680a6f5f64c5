"""Secrets are written 0600 through a new file with a random name, never through a symlink."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from cli.config import write_private
from tests.support.cli import Cli


def plant(link: Path, victim: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(victim)


def test_a_symlink_at_the_destination_is_replaced_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("untouched\n")
    target = tmp_path / "out" / "clouds.yaml"
    plant(target, victim)
    write_private(target, "password: s3cret\n")
    assert victim.read_text() == "untouched\n"
    assert not target.is_symlink() and target.read_text() == "password: s3cret\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_a_symlink_at_the_former_fixed_temporary_name_receives_nothing(tmp_path: Path) -> None:
    victim = tmp_path / "victim"  # does not exist: a dangling link would create it if followed
    target = tmp_path / "credentials.json"
    plant(tmp_path / "credentials.json.tmp", victim)
    write_private(target, "secret\n")
    assert not victim.exists()
    assert target.read_text() == "secret\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left behind


def test_the_file_is_0600_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        write_private(tmp_path / "a", "x")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o600


def test_a_failed_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    with pytest.raises(OSError):
        write_private(tmp_path / "dir", "x")  # renaming a file over a directory fails
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir"]


def test_login_writes_the_token_through_no_planted_symlink(cli: Cli, tmp_path: Path) -> None:
    home = cli.home(None)
    victim = tmp_path / "victim"
    victim.write_text("")
    for name in ("credentials.json", "credentials.json.tmp", "config.json.tmp"):
        plant(home / "sahab" / name, victim)
    result = cli("login", "--client-id", "agency-automation", "--client-secret", "agency-automation-secret")
    assert result.exit_code == 0, result.stderr
    assert victim.read_text() == ""
    credentials = home / "sahab" / "credentials.json"
    assert not credentials.is_symlink() and stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert json.loads(credentials.read_text())["grant"] == "client_credentials"


def test_the_token_directory_is_made_private_again(cli: Cli) -> None:
    directory = cli.home(None) / "sahab"
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)
    result = cli("login", "--client-id", "agency-automation", "--client-secret", "agency-automation-secret")
    assert result.exit_code == 0, result.stderr
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
