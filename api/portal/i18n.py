"""The portal's languages: English (the source), French and Arabic, from gettext catalogues
(api/portal/locale/<lang>/LC_MESSAGES/portal.po) compiled in memory by Babel at start, and
numbers and dates formatted by Babel for en, fr-MA and ar-MA.

The language is the one the person chose with the switcher (a cookie), else the best match of
Accept-Language, else English."""

from __future__ import annotations

import gettext
import io
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from babel import Locale, dates, numbers
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from starlette.requests import Request

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
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        weighted.append((-quality, position, tag.strip().lower().split("-")[0]))
    for quality, _, code in sorted(weighted):
        if quality < 0 and code in LANGUAGES:
            return LANGUAGES[code]
    return DEFAULT


@lru_cache(maxsize=None)
def translations(code: str) -> gettext.NullTranslations:
    """The language's catalogue, compiled from its .po (no .mo is kept in the tree)."""
    path = LOCALE_DIR / code / "LC_MESSAGES" / f"{DOMAIN}.po"
    if code == DEFAULT.code or not path.exists():
        return gettext.NullTranslations()
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=code)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


_DateTime = datetime  # the class below has a method named datetime


class Formats:
    """Babel's formats for one language, as the templates call them."""

    def __init__(self, language: Language) -> None:
        self.locale = Locale.parse(language.locale)

    def number(self, value: float | int | None, digits: int = 0) -> str:
        if value is None:
            return "—"
        return numbers.format_decimal(value, format=None if digits == 0 and isinstance(value, int) else
                                      f"#,##0.{'0' * digits}" if digits else "#,##0", locale=self.locale)

    def percent(self, value: float) -> str:
        return numbers.format_percent(value, locale=self.locale)

    def money(self, value: float, currency: str = "MAD") -> str:
        return numbers.format_currency(value, currency, locale=self.locale)

    def datetime(self, value: datetime | None) -> str:
        if value is None:
            return "—"
        return dates.format_datetime(value, format="medium", locale=self.locale, tzinfo=dates.get_timezone("Africa/Casablanca"))

    def datetime_short(self, value: _DateTime) -> str:
        """A day and an hour, for the points of an hourly chart."""
        return dates.format_datetime(value, format="short", locale=self.locale, tzinfo=dates.get_timezone("Africa/Casablanca"))

    def date(self, value: "_DateTime | None") -> str:
        return "—" if value is None else dates.format_date(value, format="medium", locale=self.locale)
