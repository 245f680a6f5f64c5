"""Signing in to the portal through the built-in issuer (authorization code with PKCE), the session
cookie, sign-out, session expiry and CSRF refusals, over real HTTP on the real databases."""

from __future__ import annotations

from datetime import UTC, datetime

from controlplane.clock import FrozenClock
from tests.support.fakes import RecordingQueue
from tests.support.portal import PortalUser, served_sahab


def test_sign_in_shows_the_dashboard_and_sets_a_safe_cookie(browser_of):
    anonymous = browser_of()
    first = anonymous.http.get("/portal", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"].startswith("/portal/signin")

    user = browser_of()
    response = user.sign_in("youssef", "youssef-demo")
    assert response.status_code == 200 and str(response.url).endswith("/portal")
    assert "Youssef Benali" in response.text and "Dashboard" in response.text
    assert response.headers["x-frame-options"] == "DENY" and response.headers["cache-control"] == "no-store"
    cookie = next(h for h in response.history[-1].headers.get_list("set-cookie") if h.startswith("sahab_portal="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/portal" in cookie
    assert "Secure" not in cookie  # plain HTTP on loopback only
    assert "youssef" not in cookie  # sealed, not merely signed: the tokens are unreadable


def test_a_wrong_password_gets_no_session(browser_of):
    user = browser_of()
    response = user.sign_in("youssef", "wrong")
    assert response.status_code == 401
    assert user.http.get("/portal", follow_redirects=False).status_code == 303


def test_sign_out_ends_the_session(browser_of):
    user = browser_of("youssef")
    signed_out = user.post("/portal/signout", {})
    assert signed_out.status_code == 200 and str(signed_out.url).endswith("/portal/signed-out")
    assert user.http.get("/portal", follow_redirects=False).status_code == 303


def test_forms_without_the_sessions_csrf_token_are_refused(browser_of, sahab):
    user = browser_of("youssef")
    body = {
        "kind": "business",
        "legal_name": "Forged SARL",
        "national_id": "001234567000089",
        "contact_email": "a@forged.example",
    }
    for token in (None, "", "not-the-token"):
        data = body if token is None else {**body, "csrf": token}
        refused = user.http.post("/portal/organisations", data=data)
        assert refused.status_code == 403 and "This form has expired" in refused.text
    # Another person's token is no better.
    other = browser_of("amina")
    refused = user.http.post("/portal/organisations", data={**body, "csrf": other.csrf()})
    assert refused.status_code == 403
    assert "Forged SARL" not in user.http.get("/portal/organisations").text
    accepted = user.post("/portal/organisations", body)
    assert accepted.status_code == 200 and "Forged SARL" in accepted.text


def test_the_session_ends_after_its_maximum_age(database_url, tmp_path):
    clock = FrozenClock(datetime.now(UTC))
    with served_sahab(
        database_url, tmp_path / "data", queue=RecordingQueue(), clock=clock, portal_session_max_seconds=600
    ) as sahab:
        user = PortalUser(sahab)
        try:
            assert user.sign_in("youssef", "youssef-demo").status_code == 200
            clock.advance(seconds=599)
            assert user.http.get("/portal", follow_redirects=False).status_code == 200
            clock.advance(seconds=2)
            ended = user.http.get("/portal/usage", follow_redirects=False)
            assert ended.status_code == 303 and ended.headers["location"] == "/portal/signin?next=%2Fportal%2Fusage"
        finally:
            user.close()


def test_the_issuers_sign_in_page_speaks_the_portals_language(browser_of):
    user = browser_of(accept_language="ar-MA,ar;q=0.9")
    page = user.http.get("/portal/signin")
    assert "ui_locales=ar" in str(page.url)
    assert '<html lang="ar" dir="rtl">' in page.text and "تسجيل الدخول إلى سحاب" in page.text
    refused = user.sign_in("youssef", "wrong")
    assert refused.status_code == 401 and "اسم المستخدم أو كلمة المرور غير صحيحة." in refused.text
