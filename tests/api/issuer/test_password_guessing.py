"""Password guessing on the issuer's pages: limited per account and per address, with a
lockout that refuses even the right password until it ends, and doubles when guessing goes on."""

from __future__ import annotations

import httpx

from tests.support import issuer_flows as flows


def test_an_account_is_locked_after_wrong_passwords_and_the_lock_ends(issuer):
    started = flows.start_device(issuer.http)
    answers = [flows.decide(issuer.http, started["user_code"], password=f"guess-{i}").status_code for i in range(300)]
    assert answers[:5] == [401] * 5 and set(answers[5:]) == {429}

    refused = flows.decide(issuer.http, started["user_code"])  # the right password, during the lockout
    assert refused.status_code == 429 and "Try again in" in refused.text
    assert flows.poll(issuer.http, started["device_code"]).json()["error"] == "authorization_pending"

    issuer.clock.advance(seconds=61)  # the first lockout lasts issuer_lockout_seconds (60 s)
    approved = flows.decide(issuer.http, started["user_code"])
    assert approved.status_code == 200 and "Signed in as Amina" in approved.text


def test_lockouts_double_while_guessing_goes_on(issuer):
    started = flows.start_device(issuer.http)
    for seconds in (60, 120, 240):
        for i in range(5):
            assert flows.decide(issuer.http, started["user_code"], password=f"guess-{i}").status_code == 401
        issuer.clock.advance(seconds=seconds - 1)
        assert flows.decide(issuer.http, started["user_code"]).status_code == 429
        issuer.clock.advance(seconds=1)
    # A right password clears the account's strikes.
    assert flows.decide(issuer.http, started["user_code"]).status_code == 200


def test_other_accounts_and_addresses_are_not_locked_by_one_account_s_lockout(issuer):
    started = flows.start_device(issuer.http)
    for i in range(5):
        flows.decide(issuer.http, started["user_code"], password=f"guess-{i}")
    assert flows.decide(issuer.http, started["user_code"]).status_code == 429
    assert flows.decide(issuer.http, started["user_code"], "youssef", "youssef-demo").status_code == 200


def test_an_address_is_locked_after_wrong_passwords_for_many_accounts(serve_issuer):
    issuer = serve_issuer(issuer_login_failures_per_address=8)
    started = flows.start_device(issuer.http)
    for i in range(8):  # one guess each for eight usernames: no account reaches its limit
        assert (
            flows.decide(issuer.http, started["user_code"], username=f"user-{i}", password="guess").status_code == 401
        )
    assert flows.decide(issuer.http, started["user_code"], "youssef", "youssef-demo").status_code == 429

    # From another address the same person signs in.
    with httpx.Client(
        base_url=issuer.url, timeout=5, transport=httpx.HTTPTransport(local_address="127.0.0.4")
    ) as other:
        assert flows.decide(other, started["user_code"], "youssef", "youssef-demo").status_code == 200


def test_guessing_user_codes_counts_against_the_address(serve_issuer):
    issuer = serve_issuer(issuer_login_failures_per_address=3)
    started = flows.start_device(issuer.http)
    for code in ("BBBB-BBBB", "CCCC-CCCC", "DDDD-DDDD"):
        assert flows.decide(issuer.http, code).status_code == 400
    assert flows.decide(issuer.http, started["user_code"]).status_code == 429


def test_the_portal_sign_in_page_is_limited_too(issuer):
    _, challenge = flows.pkce()
    params = {
        "response_type": "code",
        "client_id": "sahab-portal",
        "state": "s",
        "redirect_uri": issuer.settings.public_url + "/portal/callback",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }

    def sign_in(password: str) -> httpx.Response:
        return issuer.http.post(
            "/authorize", data={**params, "username": "youssef", "password": password, "action": "approve"}
        )

    assert [sign_in(f"guess-{i}").status_code for i in range(6)] == [401] * 5 + [429]
    assert sign_in("youssef-demo").status_code == 429
    issuer.clock.advance(seconds=61)
    assert sign_in("youssef-demo").status_code == 302
