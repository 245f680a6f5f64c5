"""The CLI's language: messages from `cli/locale/<language>/LC_MESSAGES/cli.po`, numbers and times by Babel.

The language is `SAHAB_LANG`, else the POSIX locale (`LC_ALL`, `LC_MESSAGES`, `LANG`): `ar`, `fr` or
English for anything else. It is read at each call, so one process (or a test) may change it. The same
language is sent to the API as `Accept-Language`, so problem titles and details come back in it.
English is the source language; catalogues are compiled in memory from the `.po` files by Babel (the
CLI ships alone, with Babel among its few needs), so there is no `.mo` file to keep current.
Arabic is printed in logical order, as Unicode text: the terminal's bidi support lays it out.
"""

from __future__ import annotations

import gettext
import io
import os
from collections.abc import Iterator
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

DOMAIN = "cli"
LOCALE_DIR = Path(__file__).parent / "locale"
DEFAULT = "en"
LOCALES = {"en": "en", "fr": "fr_MA", "ar": "ar_MA"}


def language() -> str:
    """en, fr or ar, from SAHAB_LANG, then LC_ALL, LC_MESSAGES, LANG (POSIX precedence)."""
    for name in ("SAHAB_LANG", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name, "").strip()
        if value:
            code = value.split(".")[0].split("@")[0].replace("-", "_").split("_")[0].lower()
            return code if code in LOCALES else DEFAULT
    return DEFAULT


def locale() -> Locale:
    return Locale.parse(LOCALES[language()])


def _translations(code: str) -> gettext.NullTranslations:
    return catalogue(LOCALE_DIR, DOMAIN, code)


@cache
def catalogue(locale_dir: Path, domain: str, language: str) -> gettext.NullTranslations:
    """`<locale_dir>/<language>/LC_MESSAGES/<domain>.po` compiled in memory (fuzzy entries left out);
    English, the source language, is the msgids themselves. The API loads its own catalogue with this
    too: it lives here because the CLI ships alone."""
    path = locale_dir / language / "LC_MESSAGES" / f"{domain}.po"
    if language == DEFAULT or not path.exists():
        return gettext.NullTranslations()
    with path.open("rb") as source:
        catalog = read_po(source)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def _(message: str) -> str:
    """The message in the current language (English is the msgid itself; "" stays "", not the header)."""
    return _translations(language()).gettext(message) if message else message


def ngettext(singular: str, plural: str, count: int) -> str:
    """The form for `count` (Arabic has six, French three, English two)."""
    return _translations(language()).ngettext(singular, plural, count)


def plural_count(value: float) -> int:
    """The whole number that picks, in the catalogue's plural rule, the form `value` takes in the language:
    itself when whole; for a fraction (1.5 s), a number of the same CLDR category (Arabic: "other",
    French 1.5: "one"), so that a form that spells the number out ("two seconds") is never chosen for it."""
    if float(value).is_integer():
        return int(value)
    rules = locale()
    category = rules.plural_form(value)
    return next((n for n in (1, 2, 3, 11, 100, 0, 1_000_000) if rules.plural_form(n) == category), 100)


def help_texts(command: Any) -> Iterator[tuple[Any, str, str]]:
    """(object, attribute, English text) for every help text of a Click command tree: commands' help,
    short help and epilog, and their parameters' help. The texts are msgids as Typer made them."""
    for attribute in ("help", "short_help", "epilog"):
        if getattr(command, attribute, None):
            yield command, attribute, getattr(command, attribute)
    for parameter in command.params:
        if getattr(parameter, "help", None):
            yield parameter, "help", parameter.help
    for subcommand in getattr(command, "commands", {}).values():
        yield from help_texts(subcommand)


def translate_help(command: Any) -> None:
    """Put the command tree's help texts in the current language (they are written in English where the
    commands are declared, before the language is known)."""
    for owner, attribute, text in list(help_texts(command)):
        setattr(owner, attribute, _(text))


def N_(message: str) -> str:
    """Marks a message for extraction where it is translated later (help texts, constants)."""
    return message


def number(value: Any) -> str:
    """A whole or decimal number as the language writes it (1,234 / 1 234 / 1.234); anything else as text."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "" if value is None else str(value)
    return format_decimal(value, locale=locale())


def moment(value: datetime) -> str:
    """A time as the language writes it; English keeps the sortable ISO-like form scripts grep for."""
    pattern = "yyyy-MM-dd HH:mm:ss" if language() == DEFAULT else "medium"
    return format_datetime(value, pattern, tzinfo=value.tzinfo, locale=locale())
