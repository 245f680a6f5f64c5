"""The portal's languages: English (the source), French and Arabic, from gettext catalogues
(api/portal/locale/<lang>/LC_MESSAGES/portal.po) compiled in memory by Babel at start, and
numbers and dates formatted by Babel for en, fr-MA and ar-MA.

The language is the one the person chose with the switcher (a cookie), else the best match of
Accept-Language, else English."""

from __future__ import annotations

import gettext
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path

from babel import Locale, dates, numbers
from starlette.requests import Request

from api.i18n import negotiate
from cli.i18n import catalogue

LANG_COOKIE = "sahab_lang"
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "portal"


@dataclass(frozen=True)
class Language:
    code: str  # what the switcher and the cookie use, and <html lang>
    locale: str  # Babel's locale for numbers and dates
    name: str  # in its own language
    rtl: bool = False


LANGUAGES: dict[str, Language] = {
    "en": Language("en", "en", "English"),
    "fr": Language("fr", "fr_MA", "Français"),
    "ar": Language("ar", "ar_MA", "العربية", rtl=True),
}
DEFAULT = LANGUAGES["en"]


def choose(request: Request) -> Language:
    chosen = request.cookies.get(LANG_COOKIE, "")
    if chosen in LANGUAGES:
        return LANGUAGES[chosen]
    return from_accept_language(request.headers.get("accept-language", ""))


def from_accept_language(header: str) -> Language:
    """The API's negotiation (api.i18n.negotiate), so the portal and the problems agree on one rule."""
    return LANGUAGES[negotiate(header)]


@cache
def translations(code: str) -> gettext.NullTranslations:
    """The language's portal catalogue, compiled once per process from its .po (no .mo is kept in the tree)."""
    return catalogue(LOCALE_DIR, DOMAIN, code)


_DateTime = datetime  # the class below has a method named datetime


class Formats:
    """Babel's formats for one language, as the templates call them."""

    def __init__(self, language: Language) -> None:
        self.locale = Locale.parse(language.locale)

    def number(self, value: float | int | None, digits: int = 0) -> str:
        if value is None:
            return "—"
        return numbers.format_decimal(
            value,
            format=None if digits == 0 and isinstance(value, int) else f"#,##0.{'0' * digits}" if digits else "#,##0",
            locale=self.locale,
        )

    def percent(self, value: float) -> str:
        return numbers.format_percent(value, locale=self.locale)

    def money(self, value: float, currency: str = "MAD") -> str:
        return numbers.format_currency(value, currency, locale=self.locale)

    def datetime(self, value: datetime | None) -> str:
        if value is None:
            return "—"
        return dates.format_datetime(
            value, format="medium", locale=self.locale, tzinfo=dates.get_timezone("Africa/Casablanca")
        )

    def datetime_short(self, value: _DateTime) -> str:
        """A day and an hour, for the points of an hourly chart."""
        return dates.format_datetime(
            value, format="short", locale=self.locale, tzinfo=dates.get_timezone("Africa/Casablanca")
        )

    def date(self, value: _DateTime | None) -> str:
        return "—" if value is None else dates.format_date(value, format="medium", locale=self.locale)
