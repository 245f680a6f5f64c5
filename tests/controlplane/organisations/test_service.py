"""National IDs are unique among verified organisations only, and operators never verify their own."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from controlplane.domain.principal import Principal
from controlplane.domain.states import MemberRole, OrganisationKind, OrganisationStatus
from controlplane.errors import NationalIdAlreadyVerified, SeparationOfDuties
from controlplane.organisations import service
from controlplane.organisations.schemas import MemberAdd, OrganisationCreate
from controlplane.persistence.database import transaction
from tests import factories

ICE = "001234567000089"


def registration(name: str, national_id: str = ICE) -> OrganisationCreate:
    return OrganisationCreate(
        kind=OrganisationKind.BUSINESS, legal_name=name, national_id=national_id, contact_email="contact@example.ma"
    )


def test_several_unverified_registrations_may_claim_one_national_id(sessions, clock):
    with transaction(sessions) as session:
        squatter = service.register(session, clock, factories.person("mallory"), registration("Squat SARL"))
        owner = service.register(session, clock, factories.person("amina"), registration("Atlas Data SARL"))
    assert squatter.id != owner.id
    assert squatter.status == owner.status == OrganisationStatus.PENDING_VERIFICATION.value


def test_a_second_organisation_with_a_verified_id_is_refused_until_the_holder_is_suspended(sessions, clock):
    with transaction(sessions) as session:
        owner = service.register(session, clock, factories.person("amina"), registration("Atlas Data SARL"))
        squatter = service.register(session, clock, factories.person("mallory"), registration("Squat SARL"))
    with transaction(sessions) as session:
        service.set_status(session, factories.operator(), owner.id, OrganisationStatus.VERIFIED)
    with transaction(sessions) as session:
        with pytest.raises(NationalIdAlreadyVerified) as refused:
            service.set_status(session, factories.operator(), squatter.id, OrganisationStatus.VERIFIED)
        assert owner.id in refused.value.detail and ICE in refused.value.detail
        assert refused.value.extra["holder"] == owner.id
    with transaction(sessions) as session:
        assert (
            service.get(session, factories.operator(), squatter.id).status
            == OrganisationStatus.PENDING_VERIFICATION.value
        )
        service.set_status(session, factories.operator(), owner.id, OrganisationStatus.VERIFIED)  # again: still fine
        service.set_status(session, factories.operator(), owner.id, OrganisationStatus.SUSPENDED)
        service.set_status(session, factories.operator(), squatter.id, OrganisationStatus.VERIFIED)


def test_the_same_number_is_a_different_id_for_an_agency_and_a_business(sessions, clock):
    with transaction(sessions) as session:
        business = service.register(session, clock, factories.person("amina"), registration("Atlas Data SARL"))
        agency = service.register(
            session,
            clock,
            factories.person("karim"),
            OrganisationCreate(
                kind=OrganisationKind.AGENCY, legal_name="Agence", national_id=ICE, contact_email="a@gov.ma"
            ),
        )
        for organisation in (business, agency):
            service.set_status(session, factories.operator(), organisation.id, OrganisationStatus.VERIFIED)


def test_the_database_itself_keeps_one_verified_holder(sessions):
    """The partial unique index holds even when two verifications race past the service's check."""
    with pytest.raises(IntegrityError):
        with transaction(sessions) as session:
            first = factories.organisation(session, status=OrganisationStatus.PENDING_VERIFICATION)
            second = factories.organisation(session, status=OrganisationStatus.PENDING_VERIFICATION)
            second.national_id = first.national_id
            session.flush()  # two unverified holders: allowed
            first.status = second.status = OrganisationStatus.VERIFIED.value
            session.flush()


@pytest.mark.parametrize("tie", ["registered", "member", "claimed"])
def test_an_operator_never_verifies_an_organisation_of_their_own(sessions, clock, tie):
    olga = factories.operator("olga")
    with transaction(sessions) as session:
        if tie == "registered":
            organisation = service.register(session, clock, olga, registration("Olga's Own SARL"))
            # Leaving the organisation does not undo having registered it.
            service.add_member(session, clock, olga, organisation.id, MemberAdd(subject="karim", role=MemberRole.ADMIN))
            service.remove_member(session, olga, organisation.id, "olga")
        else:
            organisation = factories.organisation(
                session, status=OrganisationStatus.PENDING_VERIFICATION, members=("olga",) if tie == "member" else ()
            )
    if tie == "claimed":
        olga = Principal(
            subject="olga",
            issuer="test",
            platform_roles=olga.platform_roles,
            claimed_organisations={organisation.id: MemberRole.MEMBER},
        )
    with transaction(sessions) as session:
        with pytest.raises(SeparationOfDuties, match="another operator must decide"):
            service.set_status(session, olga, organisation.id, OrganisationStatus.VERIFIED)
    with transaction(sessions) as session:
        verified = service.set_status(session, factories.operator("otto"), organisation.id, OrganisationStatus.VERIFIED)
        assert verified.status == OrganisationStatus.VERIFIED.value
