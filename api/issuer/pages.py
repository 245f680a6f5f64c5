"""The HTML of the device sign-in page: tiny, self-contained, escaped."""

from __future__ import annotations

from html import escape

from fastapi.responses import HTMLResponse

from api.portal.i18n import LANGUAGES, from_accept_language, translations
from api.portal.i18n import Language as Language
from api.portal.words import (  # the pages' words, translated in the portal's catalogues
    DEVICE_DONE as DEVICE_DONE,
)
from api.portal.words import (
    DEVICE_ERRORS as DEVICE_ERRORS,
)
from api.portal.words import (
    LOCKED as LOCKED,
)
from api.portal.words import (
    WRONG_PASSWORD as WRONG_PASSWORD,
)

_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:26rem;margin:3rem auto;padding:0 1rem;color:#1d2733}
h1{font-size:1.4rem}label{display:block;margin:.8rem 0 .2rem}
input{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}
.buttons{margin-top:1.2rem;display:flex;gap:.6rem}button{padding:.5rem 1.2rem;font-size:1rem}
.error{background:#fde8e8;border:1px solid #e0a0a0;padding:.6rem;border-radius:4px}
.hint{color:#5b6775;font-size:.9rem}
"""


def _page(title: str, body: str, status: int = 200, lang: str = "en", rtl: bool = False) -> HTMLResponse:
    html = (
        f'<!doctype html><html lang="{escape(lang)}" dir="{"rtl" if rtl else "ltr"}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} · Sahab</title><style>{_STYLE}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(html, status_code=status, headers=_HEADERS)


def language_of(ui_locales: str = "", accept_language: str = "") -> Language:
    """The first of `ui_locales` (OIDC Core 3.1.2.1) the portal's catalogues know, else the best match
    of Accept-Language, else English: the sign-in and device pages speak as the portal does."""
    tags = [tag.split("-")[0].lower() for tag in ui_locales.split()]
    chosen = next((LANGUAGES[tag] for tag in tags if tag in LANGUAGES), None)
    return chosen or from_accept_language(accept_language)


def device_form(
    *, language: Language, user_code: str = "", username: str = "", error: str = "", status: int = 200, **values: object
) -> HTMLResponse:
    """The device page of `sahab login`; `error` is an English message of words.py, with `values`. The
    language rides along in a hidden field, so the answer to the form speaks it too."""
    _ = translations(language.code).gettext
    error_html = (
        f'<p class="error" role="alert">{escape(_(error) % values if values else _(error))}</p>' if error else ""
    )
    hint = escape(_("Enter the code shown by %(command)s, then sign in to approve it.")) % {
        "command": '<code dir="ltr">sahab login</code>'
    }
    body = f"""{error_html}
<p class="hint">{hint}</p>
<form method="post" action="device">
  <input type="hidden" name="ui_locales" value="{escape(language.code)}">
  <label for="user_code">{escape(_("Code"))}</label>
  <input id="user_code" name="user_code" value="{escape(user_code)}" placeholder="ABCD-EFGH"
         autocomplete="off" autocapitalize="characters" required dir="ltr">
  <label for="username">{escape(_("Username"))}</label>
  <input id="username" name="username" value="{escape(username)}" autocomplete="username" dir="ltr">
  <label for="password">{escape(_("Password"))}</label>
  <input id="password" name="password" type="password" autocomplete="current-password" dir="ltr">
  <div class="buttons">
    <button type="submit" name="action" value="approve">{escape(_("Approve"))}</button>
    <button type="submit" name="action" value="deny" formnovalidate>{escape(_("Deny"))}</button>
  </div>
</form>"""
    return _page(_("Sign in a device"), body, status, lang=language.code, rtl=language.rtl)


def done(language: Language, outcome: str, **values: object) -> HTMLResponse:
    """The device page's last word: DEVICE_DONE[outcome], translated."""
    _ = translations(language.code).gettext
    title, message = DEVICE_DONE[outcome]
    return _page(
        _(title),
        f"<p>{escape(_(message) % values if values else _(message))}</p>",
        lang=language.code,
        rtl=language.rtl,
    )


def authorize_form(
    *, params: dict[str, str], client: str, username: str = "", error: str = "", status: int = 200, **values: object
) -> HTMLResponse:
    """The authorization endpoint's sign-in page; the authorization request rides along in hidden fields.
    It speaks the first of the request's `ui_locales` (OIDC Core 3.1.2.1) that the portal's catalogues
    know (the portal sends its own language); `error` is an English message from there, with `values`."""
    language = language_of(params.get("ui_locales", ""))
    _ = translations(language.code).gettext
    error_html = f'<p class="error" role="alert">{escape(_(error) % values)}</p>' if error else ""
    hidden = "".join(f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in params.items())
    hint = escape(_("Sign in to let %(client)s act for you on Sahab.")) % {
        "client": f"<strong>{escape(client)}</strong>"
    }
    body = f"""{error_html}
<p class="hint">{hint}</p>
<form method="post" action="authorize">{hidden}
  <label for="username">{escape(_("Username"))}</label>
  <input id="username" name="username" value="{escape(username)}" autocomplete="username" dir="ltr">
  <label for="password">{escape(_("Password"))}</label>
  <input id="password" name="password" type="password" autocomplete="current-password" dir="ltr">
  <div class="buttons">
    <button type="submit" name="action" value="approve">{escape(_("Sign in"))}</button>
    <button type="submit" name="action" value="deny" formnovalidate>{escape(_("Cancel"))}</button>
  </div>
</form>"""
    return _page(_("Sign in to Sahab"), body, status, lang=language.code, rtl=language.rtl)


def problem(title: str, message: str, status: int) -> HTMLResponse:
    return _page(title, f'<p class="error" role="alert">{escape(message)}</p>', status)
