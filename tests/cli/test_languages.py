"""The CLI in Arabic and French against the real API: its own messages from its catalogue, the API's
problems in the same language (it sends Accept-Language), numbers and times by Babel, exit codes and
JSON output unchanged."""

from __future__ import annotations

import json
import uuid

from tests.support.cli import Cli

NARROW_NBSP, NBSP = "\u202f", "\u00a0"


def env_name(prefix: str = "lang") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_a_problem_from_the_api_comes_back_in_arabic(cli: Cli) -> None:
    result = cli("request", "show", "req_nope", user="amina", SAHAB_LANG="ar")
    assert result.exit_code == 5
    assert result.stderr == "خطأ: غير موجود: طلب الحصة req_nope غير موجود\n"


def test_lang_chooses_french_when_sahab_lang_is_unset(cli: Cli) -> None:
    result = cli("request", "show", "req_nope", user="amina", LANG="fr_MA.UTF-8")
    assert result.exit_code == 5
    assert result.stderr == f"Erreur{NBSP}: Introuvable{NBSP}: demande de quota req_nope introuvable\n"


def test_sahab_lang_wins_over_the_locale_and_lc_all_over_lang(cli: Cli) -> None:
    english = cli("request", "show", "req_nope", user="amina", SAHAB_LANG="en", LC_ALL="ar_MA.UTF-8")
    assert english.stderr == "Error: Not found: quota request req_nope not found\n"
    arabic = cli("request", "show", "req_nope", user="amina", LC_ALL="ar_MA.UTF-8", LANG="fr_FR.UTF-8")
    assert arabic.stderr.startswith("خطأ: غير موجود")
    unknown = cli("request", "show", "req_nope", user="amina", SAHAB_LANG="de")
    assert unknown.stderr.startswith("Error: Not found")


def test_regions_table_in_arabic_and_french_with_numbers_for_the_locale(cli: Cli) -> None:
    arabic = cli("regions", user="amina", SAHAB_LANG="ar")
    assert arabic.exit_code == 0, arabic.stderr
    for header in ("المناطق", "المعرّف", "الاسم", "الوضع", "وحدات vCPU المتاحة", "الذاكرة المتاحة", "التخزين المتاح"):
        assert header in arabic.stdout, arabic.stdout
    assert "rabat-1" in arabic.stdout
    french = cli("regions", user="amina", SAHAB_LANG="fr")
    assert "Régions" in french.stdout and "vCPU libres" in french.stdout
    # Volume: 2,000 GiB of raw capacity or more, grouped as fr-MA writes it.
    assert f"{NARROW_NBSP}000 GiB" in french.stdout or f"{NARROW_NBSP}500 GiB" in french.stdout, french.stdout
    # Scripts read JSON, which does not change with the language.
    assert json.loads(cli("regions", "-o", "json", user="amina", SAHAB_LANG="ar").stdout) == json.loads(
        cli("regions", "-o", "json", user="amina").stdout
    )


def test_wait_speaks_french_and_arabic_with_their_plural_forms(cli: Cli) -> None:
    def wait(language: str) -> object:
        return cli(
            "request",
            "create",
            "--region",
            "rabat-1",
            "--env",
            env_name(),
            "--preset",
            "small",
            "--justification",
            "wait in another language",
            "--wait",
            "--timeout",
            "1.5",
            user="amina",
            SAHAB_LANG=language,
        )

    french = wait("fr")
    assert french.exit_code == 11, (french.stdout, french.stderr)
    assert f"suivi en cours (délai{NBSP}: 1,5 seconde)." in french.stdout, french.stdout
    assert f"Délai dépassé après 1,5 seconde{NBSP}: la demande " in french.stdout
    arabic = wait("ar")
    assert arabic.exit_code == 11, (arabic.stdout, arabic.stderr)
    assert "تجري متابعته (المهلة 1,5 ثانية)." in arabic.stdout, arabic.stdout
    assert "انتهت المهلة بعد 1,5 ثانية: لا يزال الطلب" in arabic.stdout
    assert "في الحالة approved" in arabic.stdout  # states are the API's names, the same in every language


def test_a_usage_error_of_the_cli_itself_in_arabic(cli: Cli) -> None:
    result = cli(
        "request",
        "create",
        "--region",
        "rabat-1",
        "--env",
        env_name(),
        "--justification",
        "nothing asked",
        user="amina",
        SAHAB_LANG="ar",
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("خطأ: خطأ في الاستخدام: حدِّد --preset small|medium|large أو كميات الموارد")


def test_a_validation_problem_lists_each_field_in_french(cli: Cli) -> None:
    result = cli(
        "request",
        "create",
        "--region",
        "rabat-1",
        "--env",
        "Not-Valid",
        "--preset",
        "small",
        "--justification",
        "x",
        user="amina",
        SAHAB_LANG="fr",
    )
    assert result.exit_code == 7
    assert f"Erreur{NBSP}: La requête n’est pas valide{NBSP}: " in result.stderr
    assert "  body.justification: Le texte doit comporter au moins 3 caractères" in result.stderr
    assert "  body.environment: lettres minuscules, chiffres et tirets" in result.stderr
