"""Problems in the caller's language (Accept-Language), on both real databases: the title and detail
come from the catalogues, numbers are written for ar-MA / fr-MA, and nothing a program reads changes."""

from __future__ import annotations

from typing import Any

import pytest

from api.i18n import negotiate
from tests.support.api import create_request, org_with_admin

LANGUAGES = ("en", "fr", "ar")
NARROW_NBSP, NBSP = "\u202f", "\u00a0"


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"max_pending_requests_per_organisation": 1})


def _ask(client: Any, language: str, method: str, path: str, **kwargs: Any) -> Any:
    headers = {**kwargs.pop("headers", {}), "Accept-Language": language}
    return client.request(method, path, headers=headers, **kwargs)


def _problems(client: Any, method: str, path: str, **kwargs: Any) -> dict[str, dict[str, Any]]:
    """The same request in each language: its answers, checked for what must hold in every language."""
    answers = {language: _ask(client, language, method, path, **kwargs) for language in LANGUAGES}
    for language, response in answers.items():
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["content-language"] == language
        assert "Accept-Language" in response.headers["vary"]
    bodies = {language: response.json() for language, response in answers.items()}
    statuses = {response.status_code for response in answers.values()}
    assert len(statuses) == 1, statuses
    _same_for_machines(bodies)
    return bodies


def _same_for_machines(bodies: dict[str, dict[str, Any]]) -> None:
    """Everything but the human text is identical: type, status, instance and every extra member."""

    def machine(body: dict[str, Any]) -> dict[str, Any]:
        kept = {key: value for key, value in body.items() if key not in {"title", "detail"}}
        if "errors" in kept:
            kept["errors"] = [{k: v for k, v in issue.items() if k != "message"} for issue in kept["errors"]]
        return kept

    english = machine(bodies["en"])
    for language, body in bodies.items():
        assert machine(body) == english, language


def test_not_found_is_said_in_each_language(client, runtime, issuer):
    org_with_admin(runtime, "amina")
    bodies = _problems(client, "GET", "/v1/quota-requests/req_nope", headers=issuer.headers("amina"))
    assert bodies["en"]["type"] == "urn:sahab:problem:not-found"
    assert (bodies["en"]["title"], bodies["en"]["detail"]) == ("Not found", "quota request req_nope not found")
    assert (bodies["fr"]["title"], bodies["fr"]["detail"]) == ("Introuvable", "demande de quota req_nope introuvable")
    assert (bodies["ar"]["title"], bodies["ar"]["detail"]) == ("غير موجود", "طلب الحصة req_nope غير موجود")


def test_numbers_in_a_detail_are_written_for_the_locale(client, runtime, issuer):
    org_with_admin(runtime, "amina")
    bodies = _problems(client, "GET", "/v1/quota-requests", params={"limit": 5000}, headers=issuer.headers("amina"))
    assert bodies["en"]["type"] == "urn:sahab:problem:invalid-input" and bodies["en"]["parameter"] == "limit"
    assert bodies["en"]["detail"] == "limit must be between 1 and 200 (page_size_max), got 5000"
    assert (
        bodies["fr"]["detail"]
        == f"limit doit être compris entre 1 et 200 (page_size_max){NARROW_NBSP}; reçu{NBSP}: 5{NARROW_NBSP}000"
    )
    assert bodies["ar"]["detail"] == "يجب أن تكون limit بين 1 و200 (page_size_max)، والقيمة المستلمة 5.000"
    assert bodies["fr"]["title"] == "La requête n’est pas valide" and bodies["ar"]["title"] == "الطلب غير صالح"


def test_a_counted_detail_takes_the_plural_form_of_the_language(client, runtime, issuer):
    org = org_with_admin(runtime, "amina")
    headers = issuer.headers("amina")
    create_request(client, headers, org, env="first", preset="large")  # waits for an approver
    body = {
        "organisation_id": org,
        "region": "rabat-1",
        "environment": "second",
        "preset": "large",
        "justification": "test workload",
    }
    bodies = _problems(client, "POST", "/v1/quota-requests", json=body, headers=headers)
    assert bodies["en"]["type"] == "urn:sahab:problem:too-many-pending-requests"
    assert (bodies["en"]["pending"], bodies["en"]["limit"]) == (1, 1)
    assert "already has 1 request waiting for a decision (at most 1); cancel it" in bodies["en"]["detail"]
    assert f"a déjà 1 demande en attente de décision (au plus 1){NARROW_NBSP}; annulez-la" in bodies["fr"]["detail"]
    assert "بالفعل طلب واحد ينتظر قرارًا (الحد الأقصى 1)؛ ألغِه" in bodies["ar"]["detail"]
    assert bodies["ar"]["title"] == "لدى المنظمة عدد كبير جدًا من الطلبات التي تنتظر قرارًا"


def test_validation_errors_are_said_in_each_language_with_their_locations_unchanged(client, runtime, issuer):
    org = org_with_admin(runtime, "amina")
    body = {"organisation_id": org, "region": "rabat-1", "environment": "Not Valid!", "justification": "x"}
    bodies = _problems(client, "POST", "/v1/quota-requests", json=body, headers=issuer.headers("amina"))
    messages = {
        language: {issue["location"]: issue["message"] for issue in body["errors"]} for language, body in bodies.items()
    }
    assert set(messages["en"]) == {"body.environment", "body.justification"}
    # Sahab's own rule, and pydantic's, in the reader's language.
    assert messages["fr"]["body.environment"] == (
        "lettres minuscules, chiffres et tirets, en commençant par une lettre, 32 au plus"
    )
    assert messages["ar"]["body.environment"] == "حروف لاتينية صغيرة وأرقام وشرطات، تبدأ بحرف، و32 محرفًا على الأكثر"
    assert messages["fr"]["body.justification"] == "Le texte doit comporter au moins 3 caractères"
    assert messages["ar"]["body.justification"] == "يجب ألا يقل طول النص عن 3 أحرف"  # 3 to 10: plural
    assert "Value error" in messages["en"]["body.environment"]  # English keeps pydantic's wording
    assert bodies["ar"]["detail"].startswith("body.environment: حروف لاتينية")


def test_the_guard_and_starlette_answer_in_the_language_too(client):
    unauthenticated = _problems(client, "GET", "/v1/regions")
    assert unauthenticated["en"]["type"] == "urn:sahab:problem:unauthenticated"
    assert unauthenticated["fr"]["title"] == "Échec de l’authentification"
    assert unauthenticated["ar"]["detail"] == "رمز الحامل مفقود: أرسل الترويسة 'Authorization: Bearer <access token>'"
    unknown = _problems(client, "GET", "/v1/nowhere")
    assert unknown["en"]["type"] == "urn:sahab:problem:not-found"
    assert (unknown["fr"]["title"], unknown["ar"]["title"]) == ("Introuvable", "غير موجود")


def test_a_separation_of_duties_refusal_is_said_whole_in_arabic(client, runtime, issuer):
    org = org_with_admin(runtime, "salma")
    salma = issuer.headers("salma", roles=("approver",))
    request = create_request(client, salma, org, preset="large")
    bodies = _problems(client, "POST", f"/v1/quota-requests/{request['id']}/approve", json={}, headers=salma)
    assert bodies["en"]["type"] == "urn:sahab:problem:separation-of-duties"
    assert bodies["ar"]["detail"] == (
        f"لا يجوز لـsalma الموافقة على الطلب {request['id']}، لأنه عضو في المنظمة {org} "
        f"وسجّل المنظمة {org} وقدّم هذا الطلب؛ يجب أن يبتّ في الأمر معتمِد آخر"
    )
    assert bodies["fr"]["detail"].startswith(
        f"salma ne peut pas approuver la demande {request['id']}, car cette personne est membre de l’organisation {org}"
    )


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (None, "en"),
        ("", "en"),
        ("de-DE", "en"),
        ("*", "en"),
        ("ar", "ar"),
        ("ar-MA", "ar"),
        ("fr-CA, ar;q=0.5", "fr"),
        ("de, fr;q=0.5, ar;q=0.9", "ar"),
        ("ar;q=0, fr;q=0.1", "fr"),
        ("en-GB;q=0.8, fr-FR", "fr"),
        ("FR", "fr"),
        ("fr;q=bogus, ar;q=0.5", "fr"),
    ],
)
def test_the_language_is_negotiated_among_english_french_and_arabic(header, language):
    assert negotiate(header) == language


def test_dates_in_a_detail_are_written_for_the_locale(client, runtime, issuer):
    org_with_admin(runtime, "amina")
    bodies = _problems(client, "GET", "/v1/usage", params={"from": "1900-01-01"}, headers=issuer.headers("amina"))
    assert bodies["en"]["parameter"] == "from"
    assert bodies["en"]["detail"] == "from: '1900-01-01' is outside 1970-01-01 to 9000-01-01"
    assert (
        bodies["fr"]["detail"]
        == f"from{NBSP}: '1900-01-01' est en dehors de la plage du 1 janvier 1970 au 1 janvier 9000"
    )
    assert bodies["ar"]["detail"] == "from: '1900-01-01' خارج المدى من 1 يناير 1970 إلى 1 يناير 9000"
