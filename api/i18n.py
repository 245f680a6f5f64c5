"""The API's languages: which one a caller reads (Accept-Language), and problem titles and details in it.

English is the source language: the msgids are the English titles and `Detail` templates of the core
(controlplane/errors.py). The catalogues are `api/locale/<language>/LC_MESSAGES/api.po`, compiled in
memory by Babel the first time a language is asked for, so there is no `.mo` file to keep current.
Only the human text changes with the language: problem `type`s, codes and every other member stay as
they are. Numbers and dates inside a detail are formatted by Babel for the language's locale
(`ar-MA`, `fr-MA`, `en`).
"""

from __future__ import annotations

import gettext
import re
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale
from babel.core import negotiate_locale
from babel.dates import format_date, format_datetime
from babel.lists import format_list
from babel.numbers import format_decimal

from cli.i18n import catalogue
from controlplane.errors import Detail

DOMAIN = "api"
LOCALE_DIR = Path(__file__).parent / "locale"
DEFAULT = "en"
# The languages the API answers in, and the locale whose formats each uses.
LOCALES = {"en": "en", "fr": "fr_MA", "ar": "ar_MA"}
_QUALITY = re.compile(r"^\s*q\s*=\s*([01](?:\.\d{0,3})?)\s*$", re.IGNORECASE)


def N_(message: str) -> str:
    """Marks a message for extraction (`i18n/update`) where it is translated later, not here."""
    return message


def counted(singular: str, plural: str) -> tuple[str, str]:
    """Marks a singular/plural pair for extraction; `Detail.counted` chooses between them later."""
    return singular, plural


def negotiate(accept_language: str | None) -> str:
    """The language to answer in: the caller's most preferred of en, fr, ar (RFC 9110 quality values,
    `fr-CA` matches `fr`), else English."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, *parameters = part.strip().split(";")
        quality = 1.0
        for parameter in parameters:
            match = _QUALITY.match(parameter)
            if match:
                quality = float(match.group(1))
        if tag and tag != "*" and quality > 0:
            ranked.append((-quality, position, tag.strip().lower()))  # tags are case-insensitive (RFC 5646)
    preferred = [tag for _, _, tag in sorted(ranked)]
    return negotiate_locale(preferred, list(LOCALES), sep="-") or DEFAULT


@cache
def locale_of(language: str) -> Locale:
    return Locale.parse(LOCALES.get(language, DEFAULT))


def translations(language: str) -> gettext.NullTranslations:
    """The language's catalogue (English: the msgids themselves), compiled once per process."""
    return catalogue(LOCALE_DIR, DOMAIN, language)


def translate(message: str, language: str) -> str:
    """The message in the language ("" stays "": gettext would answer the catalogue's header)."""
    return translations(language).gettext(message) if message else message


def say(text: str, language: str) -> str:
    """A detail in the language: a `Detail` is translated and its values formatted for the locale;
    any other text (a message the core did not template) is returned as it is."""
    if not isinstance(text, Detail) or language == DEFAULT:
        return str(text)
    if text.plural is not None:
        template = translations(language).ngettext(text.template, text.plural, text.quantity)
    else:
        template = translate(text.template, language)
    if not text.params:
        return template
    return template.format(**{name: _value(value, language) for name, value in text.params.items()})


def _value(value: Any, language: str) -> Any:
    """A value as the locale writes it. Values a template formats itself (`{x!r}`, `{x:.1f}`) are
    strings or floats that format the same way; numbers without a spec are written with Babel."""
    locale = locale_of(language)
    if isinstance(value, Detail):
        return say(value, language)
    if isinstance(value, (list, tuple)):
        return format_list([str(_value(item, language)) for item in value], locale=locale)
    if isinstance(value, bool) or isinstance(value, str):
        return value
    places = _places(value)
    if places:  # a decimal keeps the places it was written with: an amount of 5000.50 is not "5 000,5"
        return _Number(value, format_decimal(value, format="#,##0." + "0" * places, locale=locale))
    if isinstance(value, (int, Decimal)):
        return _Number(value, format_decimal(value, locale=locale))
    if isinstance(value, datetime):
        return _Number(value, format_datetime(value, "medium", tzinfo=value.tzinfo, locale=locale))
    if isinstance(value, date):
        return _Number(value, format_date(value, "long", locale=locale))  # in prose: "1 janvier 1970"
    return value


def _places(value: Any) -> int:
    """How many decimal places a finite Decimal was written with (0 for anything else, or beyond 6)."""
    if not isinstance(value, Decimal) or not value.is_finite():
        return 0
    exponent = value.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and -6 <= exponent < 0 else 0


class _Number(str):
    """A number or date written for the locale that still honours an explicit format spec."""

    raw: Any

    def __new__(cls, raw: Any, shown: str) -> _Number:
        text = super().__new__(cls, shown)
        text.raw = raw
        return text

    def __format__(self, spec: str) -> str:
        return format(self.raw, spec) if spec else str(self)
