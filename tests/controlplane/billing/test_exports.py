"""Exports open and are complete: the CSV parses back to every line and the totals; each PDF (English,
French, Arabic) opens with poppler, holds every project, the number and the totals, and its pages are
rendered to PNG under $SAHAB_TEST_ARTEFACTS (default: the test's temp dir) for a person to look at."""

from __future__ import annotations

import csv
import io
import os
import subprocess
from datetime import date
from decimal import Decimal
from functools import partial
from pathlib import Path

import pytest

from api.i18n import translate
from controlplane.billing import exports, statements
from controlplane.billing.billing import Billing
from controlplane.persistence.database import transaction
from controlplane.persistence.models import Organisation, Statement
from tests.support.billing import APRIL_FIRST, FakeDiscounts, fifty_percent, march_fixture, march_price_change


@pytest.fixture
def issued(sessions) -> tuple[Statement, Organisation, list[str]]:
    with transaction(sessions) as session:
        org, a, b = march_fixture(session)
        billing = Billing(march_price_change(), FakeDiscounts({org.id: [fifty_percent(until=date(2026, 3, 11))]}))
        statement = statements.issue(session, billing, org, "2026-03", APRIL_FIRST)
        session.expunge_all()
        return statement, org, [a, b]


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url  # rendering does not depend on the database: SQLite only


def test_csv_holds_every_line_and_the_totals(issued):
    statement, _, projects = issued
    rows = list(csv.DictReader(io.StringIO(exports.to_csv(statement))))
    lines = [r for r in rows if r["resource"]]
    assert len(lines) == len(statement.lines) == 11 and {r["project_id"] for r in lines} == set(projects)
    assert sum(Decimal(r["amount"]) for r in lines) == Decimal(statement.total) == Decimal("985.98")
    totals = {r["list_amount"]: r["amount"] for r in rows if not r["resource"]}
    assert totals == {"list_total": "1169.40", "discount_total": "183.42", "total": "985.98"}
    assert all(r["number"] == "SAH-2026-000001" and r["currency"] == "MAD" for r in rows)


@pytest.mark.parametrize(
    "language,title,total",
    [
        ("en", "Statement", "985.98 MAD"),
        ("fr", "Relevé mensuel", "985,98 MAD"),
        ("ar", "كشف الحساب الشهري", "985,98"),
    ],
)
@pytest.mark.pdf
def test_pdf_opens_and_is_complete(issued, tmp_path, language, title, total):
    statement, organisation, projects = issued
    artefacts = Path(os.environ.get("SAHAB_TEST_ARTEFACTS") or tmp_path) / "statements"
    artefacts.mkdir(parents=True, exist_ok=True)
    pdf = artefacts / f"{statement.number}-{language}.pdf"
    pdf.write_bytes(exports.to_pdf(statement, organisation, language, partial(translate, language=language)))
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert "Pages:" in info
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    for expected in (statement.number, *projects, total):
        assert expected in text, (expected, text)
    if language != "ar":
        assert title in text
    else:
        # pdftotext gives Arabic in visual order; the shaped glyphs map back to the title's letters
        assert "الشهري" in text or "يرهشلا" in text or "كشف" in text, text
    subprocess.run(
        ["pdftoppm", "-r", "80", "-png", str(pdf), str(artefacts / f"{statement.number}-{language}")], check=True
    )
    assert list(artefacts.glob(f"{statement.number}-{language}-*.png"))


def test_a_draft_says_so(issued, sessions):
    statement, organisation, _ = issued
    statement.state, statement.number = "draft", None
    html = exports.to_html(statement, organisation, "fr", partial(translate, language="fr"))
    assert "BROUILLON" in html and "pas encore numéroté" in html
