"""The CLI's language: how it is chosen, plural forms, numbers and times by Babel, the header it sends,
and its catalogues travelling with the package when the CLI ships alone."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cli import i18n
from cli.client import Api

CLI = Path(i18n.__file__).parent
ROOT = CLI.parent


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch):
    for name in ("SAHAB_LANG", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize(
    ("variables", "language"),
    [
        ({}, "en"),
        ({"LANG": "C.UTF-8"}, "en"),
        ({"LANG": "POSIX"}, "en"),
        ({"LANG": "ar_MA.UTF-8"}, "ar"),
        ({"LANG": "fr_FR.UTF-8@euro"}, "fr"),
        ({"LANG": "de_DE.UTF-8"}, "en"),
        ({"LANG": "ar_MA.UTF-8", "LC_MESSAGES": "fr_MA.UTF-8"}, "fr"),
        ({"LC_MESSAGES": "fr_MA.UTF-8", "LC_ALL": "ar_MA.UTF-8"}, "ar"),
        ({"LC_ALL": "ar_MA.UTF-8", "SAHAB_LANG": "fr"}, "fr"),
        ({"SAHAB_LANG": "AR"}, "ar"),
        ({"SAHAB_LANG": "fr-CA"}, "fr"),
        ({"SAHAB_LANG": "es", "LANG": "ar_MA.UTF-8"}, "en"),
    ],
)
def test_the_language_comes_from_sahab_lang_then_the_posix_locale(environment, variables, language) -> None:
    for name, value in variables.items():
        environment.setenv(name, value)
    assert i18n.language() == language


def test_arabic_has_six_plural_forms_and_french_three(environment) -> None:
    environment.setenv("SAHAB_LANG", "ar")
    singular = "Timed out after {seconds} s: request {id} is still {state}."
    said = {n: i18n.ngettext(singular, singular, n).format(seconds=n, id="r", state="s") for n in (0, 1, 2, 3, 11, 100)}
    assert said[1].startswith("انتهت المهلة بعد ثانية واحدة:")  # one: the number is not written
    assert said[2].startswith("انتهت المهلة بعد ثانيتين:")  # two: the dual
    assert said[3].startswith("انتهت المهلة بعد 3 ثوانٍ:")  # few (3 to 10): plural
    assert said[11].startswith("انتهت المهلة بعد 11 ثانية:")  # many (11 to 99): singular
    assert said[100].startswith("انتهت المهلة بعد 100 ثانية:") and said[0].startswith("انتهت المهلة بعد 0 ثانية:")
    environment.setenv("SAHAB_LANG", "fr")
    assert "1 seconde" in i18n.ngettext(singular, singular, 1).format(seconds=1, id="r", state="s")
    assert "2 secondes" in i18n.ngettext(singular, singular, 2).format(seconds=2, id="r", state="s")


@pytest.mark.parametrize(
    ("language", "value", "count"),
    [
        ("ar", 1.5, 100),
        ("ar", 2.0, 2),
        ("ar", 7, 7),
        ("fr", 1.5, 1),
        ("fr", 2.5, 2),
        ("en", 1.5, 2),
    ],
)
def test_a_fraction_takes_the_plural_form_its_language_gives_it(environment, language, value, count) -> None:
    environment.setenv("SAHAB_LANG", language)
    chosen = i18n.plural_count(value)
    assert i18n.locale().plural_form(chosen) == i18n.locale().plural_form(value)
    assert chosen == count


def test_numbers_and_times_are_written_for_the_locale(environment) -> None:
    moment = datetime(2026, 12, 2, 4, 5, 6, tzinfo=UTC)
    environment.setenv("SAHAB_LANG", "en")
    assert (i18n.number(1234567), i18n.moment(moment)) == ("1,234,567", "2026-12-02 04:05:06")
    environment.setenv("SAHAB_LANG", "fr")
    assert (i18n.number(1234567), i18n.number(1.5)) == ("1\u202f234\u202f567", "1,5")
    assert i18n.moment(moment) == "2 déc. 2026, 04:05:06"
    environment.setenv("SAHAB_LANG", "ar")
    assert i18n.number(1234567) == "1.234.567"
    assert "2026" in i18n.moment(moment) and "04:05:06" in i18n.moment(moment)
    assert i18n.number(None) == "" and i18n.number("n/a") == "n/a"


def test_the_api_is_asked_for_the_cli_language(environment) -> None:
    environment.setenv("SAHAB_LANG", "ar")
    with Api("http://127.0.0.1:1") as api:
        assert api._http.headers["accept-language"] == "ar"


def test_an_empty_message_stays_empty_rather_than_the_catalogue_header(environment) -> None:
    environment.setenv("SAHAB_LANG", "fr")
    assert i18n._("") == ""


def test_the_catalogues_are_package_data() -> None:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    for package in ("cli", "api"):
        shipped = {path for pattern in data[package] for path in (ROOT / package).glob(pattern)}
        assert set((ROOT / package / "locale").glob("*/LC_MESSAGES/*.po")) <= shipped, package
        assert len(set((ROOT / package / "locale").glob("*/LC_MESSAGES/*.po"))) == 2


@pytest.mark.processes
def test_the_cli_shipped_alone_speaks_arabic(tmp_path: Path) -> None:
    """Only cli/ copied beside nothing of the server: its messages still come from its own catalogue."""
    shutil.copytree(CLI, tmp_path / "cli", ignore=shutil.ignore_patterns("__pycache__"))
    env = {
        **os.environ,
        "PYTHONPATH": str(tmp_path),
        "SAHAB_LANG": "ar",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "SAHAB_CLIENT_ID": "",
        "SAHAB_CLIENT_SECRET": "",
    }
    result = subprocess.run(
        [sys.executable, "-P", "-c", "from cli.main import main; main()", "regions", "--api", "http://127.0.0.1:1"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 3, result.stderr  # not logged in: before any connection is tried
    assert result.stderr.startswith("خطأ: لم تتم المصادقة: لست مسجَّل الدخول؛ نفّذ `sahab login`"), result.stderr


def test_help_texts_are_shown_in_the_language(environment) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    runner = CliRunner()
    arabic = runner.invoke(app, ["--help"], env={"SAHAB_LANG": "ar", "COLUMNS": "200"})
    assert arabic.exit_code == 0
    assert "طلبات الحصص: إنشاء ومتابعة وإلغاء وإعادة محاولة." in arabic.stdout
    assert "رموز الخروج: 0 نجاح؛" in arabic.stdout
    french = runner.invoke(app, ["request", "create", "--help"], env={"SAHAB_LANG": "fr", "COLUMNS": "200"})
    assert "Demander du quota dans une région pour un environnement" in french.stdout
    assert "pourquoi ce quota est nécessaire" in french.stdout
    english = runner.invoke(app, ["request", "create", "--help"], env={"SAHAB_LANG": "en", "COLUMNS": "200"})
    assert "why the quota is needed" in english.stdout
