"""Registration and verification through the HTTP API: national IDs cannot be squatted or probed,
and operators never verify their own organisation. Both real databases."""

from __future__ import annotations

ICE = "004455667000012"
OPERATOR = ("operator",)


def register(client, headers, name: str, national_id: str = ICE):
    return client.post(
        "/v1/organisations",
        headers=headers,
        json={
            "kind": "business",
            "legal_name": name,
            "national_id": national_id,
            "contact_email": "contact@example.ma",
        },
    )


def test_a_squatted_national_id_neither_blocks_the_owner_nor_tells_anyone_it_exists(client, issuer):
    squat = register(client, issuer.headers("mallory"), "Squat SARL")
    owner = register(client, issuer.headers("amina"), "Atlas Data SARL")
    fresh = register(client, issuer.headers("karim"), "Fresh SARL", national_id="009988776000011")
    assert squat.status_code == owner.status_code == fresh.status_code == 201, owner.text
    # Claimed or not, the answer has the same shape and says nothing of other registrations.
    for response in (owner, fresh):
        body = response.json()
        assert set(body) == set(squat.json()) and body["status"] == "pending_verification"
    listed = client.get("/v1/organisations", headers=issuer.headers("amina")).json()["items"]
    assert [o["id"] for o in listed] == [owner.json()["id"]]


def test_only_one_organisation_is_verified_with_a_national_id(client, issuer):
    squat = register(client, issuer.headers("mallory"), "Squat SARL").json()
    owner = register(client, issuer.headers("amina"), "Atlas Data SARL").json()
    operator = issuer.headers("olga", roles=OPERATOR)
    assert client.post(f"/v1/organisations/{owner['id']}/verify", headers=operator).status_code == 200
    refused = client.post(f"/v1/organisations/{squat['id']}/verify", headers=operator)
    assert refused.status_code == 409 and refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["type"] == "urn:sahab:problem:national-id-already-verified"
    assert owner["id"] in problem["detail"] and problem["holder"] == owner["id"]
    assert client.get(f"/v1/organisations/{squat['id']}", headers=operator).json()["status"] == "pending_verification"


def test_an_operator_may_not_verify_an_organisation_they_registered(client, issuer):
    olga = issuer.headers("olga", roles=OPERATOR)
    own = register(client, olga, "Olga Cloud SARL").json()
    refused = client.post(f"/v1/organisations/{own['id']}/verify", headers=olga)
    assert refused.status_code == 403
    problem = refused.json()
    assert problem["type"] == "urn:sahab:problem:separation-of-duties"
    assert "another operator must decide" in problem["detail"]
    verified = client.post(f"/v1/organisations/{own['id']}/verify", headers=issuer.headers("otto", roles=OPERATOR))
    assert verified.status_code == 200 and verified.json()["status"] == "verified"
