"""Statement totals against hand-computed fixtures (March 2026: 31 days, 744 hours), issuing, numbering,
corrections. Figures in the comments are the hand computation each assertion checks."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest

from controlplane.billing import statements
from controlplane.billing.billing import Billing
from controlplane.billing.compute import compute, round_half_up
from controlplane.errors import Conflict, NotFound, PermissionDenied
from controlplane.persistence.database import transaction
from tests import factories
from tests.support.billing import APRIL_FIRST, FakeDiscounts, at, fifty_percent, march_fixture, march_price_change


def amounts(computed, project_id: str) -> list[tuple[str, str, str, str, str]]:
    return [
        (line["resource"], line["price_version"], line["discount_percent"], line["list_amount"], line["amount"])
        for line in computed.lines
        if line["project_id"] == project_id
    ]


def test_price_change_programme_end_and_decommissioned_project(database_url, sessions):
    # The programme gives 50 % until 11 March (exclusive): the first 240 hours of March.
    with transaction(sessions) as session:
        org, a, b = march_fixture(session)
        discounts = FakeDiscounts({org.id: [fifty_percent(until=date(2026, 3, 11))]})
        computed = compute(session, org, "2026-03", APRIL_FIRST, march_price_change(), discounts)
    assert amounts(computed, a) == [
        # RAM 8 GiB: 240 h x 8 x 0.03 = 57.60 (-50 %), 120 h = 28.80, from the 16th 384 h = 92.16
        ("ram_mib", "v1", "0", "28.80", "28.80"),
        ("ram_mib", "v1", "50", "57.60", "28.80"),
        ("ram_mib", "v2", "0", "92.16", "92.16"),
        # vCPUs 4: 960 vCPU-h x 0.25 = 240.00 (-50 %), 480 x 0.25 = 120.00, 1536 x 0.30 = 460.80
        ("vcpus", "v1", "0", "120.00", "120.00"),
        ("vcpus", "v1", "50", "240.00", "120.00"),
        ("vcpus", "v2", "0", "460.80", "460.80"),
        # volumes: 100 x 216 + 200 x 24 = 26,400 GiB-h (-50 %), 200 x 120 = 24,000, 200 x 384 = 76,800; x 0.001
        ("volume_gib", "v1", "0", "24.00", "24.00"),
        ("volume_gib", "v1", "50", "26.40", "13.20"),
        ("volume_gib", "v2", "0", "76.80", "76.80"),
    ]
    # B counts from its first reading (2 March) to its removal (5 March 12:00): 84 hours, all discounted;
    # its last reading is not carried to the end of the month, and an unlimited RAM quota (-1) is free.
    assert amounts(computed, b) == [("vcpus", "v1", "50", "42.00", "21.00"), ("volume_gib", "v1", "50", "0.84", "0.42")]
    line = next(ln for ln in computed.lines if ln["project_id"] == b and ln["resource"] == "vcpus")
    assert line["quantity"] == "168.000000" and line["programme"] == "startup-2026" and line["basis"] == "granted"
    assert computed.list_total == Decimal("1169.40")
    assert computed.total == Decimal("985.98")
    assert computed.discount_total == Decimal("183.42")
    assert computed.price_versions == ["v1", "v2"] and computed.currency == "MAD"


def test_an_agency_is_charged_in_chargeback_units(database_url, sessions):
    with transaction(sessions) as session:
        org = factories.organisation(session, kind=factories.OrganisationKind.AGENCY)
        p = factories.active_project(session, org.id, created_at=at(1), granted={"vcpus": 1})
        factories.usage_sample(session, p, at(1), quota={"vcpus": 1})
        computed = compute(session, org, "2026-03", APRIL_FIRST, march_price_change(), FakeDiscounts())
    # 360 h x 0.18 + 384 h x 0.20
    assert computed.currency == "CU" and computed.total == Decimal("64.80") + Decimal("76.80")


def test_each_line_is_rounded_once_half_up():
    assert round_half_up(Fraction(5, 1000)) == Decimal("0.01")
    assert round_half_up(Fraction(-5, 1000)) == Decimal("-0.01")
    assert round_half_up(Fraction(4999, 1000000)) == Decimal("0.00")
    assert round_half_up(Fraction(1, 3), Fraction(1, 10**6)) == Decimal("0.333333")


def test_a_draft_stops_at_now_and_issuing_waits_for_the_month_to_end(database_url, sessions):
    billing = Billing(march_price_change())
    with transaction(sessions) as session:
        org, a, _ = march_fixture(session)
        draft = statements.refresh_draft(session, billing, org, at(3))
        assert draft.state == "draft" and draft.number is None and draft.period == "2026-03"
        # two days of A's 4 vCPUs: 48 h x 4 x 0.25
        assert (
            next(ln for ln in draft.lines if ln["project_id"] == a and ln["resource"] == "vcpus")["amount"] == "48.00"
        )
        with pytest.raises(Conflict, match="still running"):
            statements.issue(session, billing, org, "2026-03", at(31, 23))
        issued = statements.issue(session, billing, org, "2026-03", APRIL_FIRST)
        assert issued.id == draft.id and issued.state == "issued" and issued.number == "SAH-2026-000001"
        assert (
            statements.issue(session, billing, org, "2026-03", APRIL_FIRST + timedelta(hours=1)).number == issued.number
        )
        assert issued.total == "1169.40"  # no programme here: the list total of the fixture above


def test_a_correction_is_a_credit_note_and_a_replacement_never_an_edit(database_url, sessions):
    wrong = Billing(march_price_change())
    with transaction(sessions) as session:
        org, a, _ = march_fixture(session)
        original = statements.issue(session, wrong, org, "2026-03", APRIL_FIRST)
        frozen = (list(original.lines), original.total)
        # The programme's enrolment was recorded late: the statement is corrected with it applied.
        right = Billing(march_price_change(), FakeDiscounts({org.id: [fifty_percent(until=date(2026, 3, 11))]}))
        with pytest.raises(PermissionDenied):
            statements.correct(session, right, factories.person("owner"), original.id, "late enrolment", APRIL_FIRST)
        credit, replacement = statements.correct(
            session, right, factories.operator(), original.id, "late enrolment", APRIL_FIRST + timedelta(days=1)
        )
        assert (original.state, original.corrected_by_id) == ("corrected", credit.id)
        assert (list(original.lines), original.total) == frozen
        assert credit.kind == "credit_note" and credit.corrects_id == original.id and credit.total == "-1169.40"
        assert [ln["amount"] for ln in credit.lines] == [str(-Decimal(ln["amount"])) for ln in original.lines]
        assert replacement.replaces_id == original.id and replacement.total == "985.98"
        assert [original.number, credit.number, replacement.number] == [
            "SAH-2026-000001",
            "SAH-2026-000002",
            "SAH-2026-000003",
        ]
        with pytest.raises(Conflict, match="only an issued statement"):
            statements.correct(session, right, factories.operator(), original.id, "again", APRIL_FIRST)


def test_others_do_not_see_a_statement(database_url, sessions):
    billing = Billing(march_price_change())
    with transaction(sessions) as session:
        org, _, _ = march_fixture(session)
        issued = statements.issue(session, billing, org, "2026-03", APRIL_FIRST)
        assert statements.get(session, factories.person("owner"), issued.id) is issued
        with pytest.raises(NotFound):
            statements.get(session, factories.person("stranger"), issued.id)
        page = statements.list_visible(session, factories.person("stranger"), cursor=None, limit=10)
        assert page.items == []
