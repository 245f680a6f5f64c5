"""A statement as CSV (every line, machine-readable, amounts as exact decimal strings) and as PDF
(WeasyPrint: Pango shapes the Arabic and lays it out right to left), in English, French or Arabic.

The labels below are English msgids of the API's catalogue (api/locale), translated by the `translate`
the API edge passes in; numbers, months and amounts are formatted by Babel for en, fr-MA and ar-MA (Latin
digits, as Morocco writes them). The page counter stays here: it is CSS around counter() values."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from html import escape
from typing import Any, Literal

from babel.dates import format_date
from babel.numbers import format_decimal

from controlplane.persistence.models import Organisation, Statement

Language = Literal["en", "fr", "ar"]
LANGUAGES: tuple[str, ...] = ("en", "fr", "ar")
LOCALES = {"en": "en", "fr": "fr_MA", "ar": "ar_MA"}

CSV_COLUMNS = (
    "statement_id",
    "number",
    "kind",
    "state",
    "organisation_id",
    "period",
    "currency",
    "project_id",
    "region_id",
    "environment",
    "resource",
    "basis",
    "unit",
    "price_version",
    "quantity",
    "unit_price",
    "discount_percent",
    "programme",
    "list_amount",
    "amount",
)


def N_(message: str) -> str:
    """Marks a label for the API's catalogue (`i18n/update` extracts it); the API edge passes the
    translator of the document's language to `to_html`, so the core keeps no translations of its own."""
    return message


LABELS: dict[str, str] = {
    "statement": N_("Statement"),
    "credit_note": N_("Credit note"),
    "draft": N_("DRAFT: the month is still running, figures will change"),
    "corrected": N_("Corrected by credit note"),
    "cancels": N_("Cancels statement"),
    "replaces": N_("Replaces statement"),
    "number": N_("Number"),
    "not_numbered": N_("not numbered yet"),
    "organisation": N_("Organisation"),
    "national_id": N_("National ID"),
    "period": N_("Month"),
    "issued": N_("Issued"),
    "currency": N_("Currency"),
    "prices": N_("Price list versions"),
    "reason": N_("Reason"),
    "project": N_("Project"),
    "resource": N_("Resource"),
    "basis": N_("Charged on"),
    "version": N_("Prices"),
    "quantity": N_("Quantity"),
    "unit_price": N_("Unit price"),
    "discount": N_("Discount"),
    "amount": N_("Amount"),
    "subtotal": N_("Project subtotal"),
    "list_total": N_("Total at list prices"),
    "discount_total": N_("Programme discounts"),
    "total": N_("Total due"),
    "no_lines": N_("Nothing was charged this month."),
    "rounding": N_("Each line is rounded once, half up, to 0.01; totals add the rounded lines."),
    "granted": N_("granted quota"),
    "measured": N_("measured use"),
}
RESOURCES = {
    "vcpus": N_("Virtual CPUs"),
    "ram_mib": N_("Memory (RAM)"),
    "volume_gib": N_("Block storage"),
    "floating_ips": N_("Floating IP addresses"),
    "instances": N_("Instances"),
    "object_gib": N_("Object storage"),
}
# The default price list's units. Arabic reads them as words ("ساعة معالج افتراضي" for vCPU-hour), which
# keeps a number and its unit in one direction; a unit of another price list is printed as it is written.
UNITS = {"vCPU-hour": N_("vCPU-hour"), "GiB-hour": N_("GiB-hour"), "IP-hour": N_("IP-hour")}
CURRENCIES = {"MAD": N_("MAD"), "CU": N_("chargeback units")}


def to_csv(statement: Statement) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    head = {
        "statement_id": statement.id,
        "number": statement.number or "",
        "kind": statement.kind,
        "state": statement.state,
        "organisation_id": statement.organisation_id,
        "period": statement.period,
        "currency": statement.currency,
    }
    for line in statement.lines:
        row = {**head, **line}
        writer.writerow(["" if row.get(column) is None else row[column] for column in CSV_COLUMNS])
    writer.writerow([*(head[c] for c in CSV_COLUMNS[:7]), *[""] * 11, "list_total", statement.list_total])
    writer.writerow([*(head[c] for c in CSV_COLUMNS[:7]), *[""] * 11, "discount_total", statement.discount_total])
    writer.writerow([*(head[c] for c in CSV_COLUMNS[:7]), *[""] * 11, "total", statement.total])
    return out.getvalue()


def _number(value: str, language: str, places: int = 2) -> str:
    pattern = "#,##0." + "0" * places if places else "#,##0"
    text = format_decimal(Decimal(value), format=pattern, locale=LOCALES[language])
    return f"\u2068{text}\u2069" if language == "ar" else text  # isolated: a minus sign stays with its number


def _quantity(value: str, language: str) -> str:
    decimal = Decimal(value)
    exponent = decimal.normalize().as_tuple().exponent
    places = max(0, min(6, -exponent)) if decimal and isinstance(exponent, int) else 0
    return _number(value, language, places)


def _money(value: str, currency: str, language: str, translate: Callable[[str], str]) -> str:
    return f"{_number(value, language)} {escape(_currency(currency, translate))}"


def _currency(code: str, translate: Callable[[str], str]) -> str:
    return translate(CURRENCIES[code]) if code in CURRENCIES else code


def _month(period: str, language: str) -> str:
    year, month = (int(part) for part in period.split("-"))
    return format_date(date(year, month, 1), "MMMM y", locale=LOCALES[language])


# Words between the numbers keep "page 1 of 2" in order in a right-to-left page too.
PAGE_COUNTER = {
    "en": '"Page " counter(page) " of " counter(pages)',
    "fr": '"Page " counter(page) " sur " counter(pages)',
    "ar": '"الصفحة " counter(page) " من " counter(pages)',
}

STYLE = """
@page { size: A4; margin: 16mm 14mm 18mm 14mm;
        @bottom-center { content: PAGE_COUNTER; font-size: 8pt; color: #666; } }
body { font-family: "DejaVu Sans", sans-serif; font-size: 9pt; color: #111; }
html[dir=rtl] body { font-family: "Noto Naskh Arabic", "Noto Sans Arabic", "DejaVu Sans", sans-serif; font-size: 10pt; }
h1 { font-size: 16pt; margin: 0 0 2mm 0; }
.brand { color: #0b5394; font-weight: bold; font-size: 11pt; }
.banner { border: 1.5pt solid #b45f06; color: #b45f06; padding: 2mm 3mm; margin: 3mm 0; font-weight: bold; }
table { width: 100%; border-collapse: collapse; margin-top: 3mm; }
table.meta td { padding: 0.8mm 2mm; vertical-align: top; }
table.meta td.k { color: #555; width: 35%; }
table.lines th { background: #e8eef5; text-align: start; padding: 1.2mm 1.5mm; font-size: 8pt; }
table.lines td { border-bottom: 0.4pt solid #ccc; padding: 1.2mm 1.5mm; }
td.n, th.n { text-align: end; white-space: nowrap; }
h2 { font-size: 10.5pt; margin: 5mm 0 0 0; }
tr.sub td { font-weight: bold; border-bottom: 0.8pt solid #333; }
table.totals { width: 60%; margin-inline-start: auto; }
table.totals td { padding: 1mm 2mm; }
table.totals tr.due td { font-weight: bold; font-size: 11pt; border-top: 1pt solid #111; }
.note { color: #555; font-size: 7.5pt; margin-top: 6mm; }
"""


def to_html(statement: Statement, organisation: Organisation, language: str, translate: Callable[[str], str]) -> str:
    """The statement as a page in `language`; `translate` gives a label in that language (the API's catalogue)."""
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}")

    def L(key: str) -> str:
        return str(escape(translate(LABELS[key])))

    def money(value: str) -> str:
        return _money(value, statement.currency, language, translate)

    meta = [
        (L("number"), escape(statement.number or translate(LABELS["not_numbered"]))),
        (L("organisation"), f"{escape(organisation.legal_name)} ({escape(organisation.id)})"),
        (L("national_id"), escape(organisation.national_id)),
        (L("period"), escape(_month(statement.period, language))),
        (L("currency"), escape(_currency(statement.currency, translate))),
    ]
    if statement.issued_at:
        meta.append((L("issued"), escape(format_date(statement.issued_at.date(), "long", locale=LOCALES[language]))))
    meta.append((L("prices"), escape(", ".join(statement.price_versions) or "-")))
    if statement.reason:
        meta.append((L("reason"), escape(statement.reason)))
    banners = []
    if statement.state == "draft":
        banners.append(L("draft"))
    if statement.state == "corrected" and statement.corrected_by_id:
        banners.append(f"{L('corrected')} {escape(statement.corrected_by_id)}")
    if statement.corrects_id:
        banners.append(f"{L('cancels')} {escape(statement.corrects_id)}")
    if statement.replaces_id:
        banners.append(f"{L('replaces')} {escape(statement.replaces_id)}")

    sections = []
    projects: dict[str, list[dict[str, Any]]] = {}
    for line in statement.lines:
        projects.setdefault(line["project_id"], []).append(line)
    for project_id, lines in projects.items():
        first = lines[0]
        rows = []
        for line in lines:
            resource = translate(RESOURCES[line["resource"]]) if line["resource"] in RESOURCES else line["resource"]
            unit = translate(UNITS[line["unit"]]) if line["unit"] in UNITS else line["unit"]
            discount = Decimal(line["discount_percent"])
            rows.append(
                f"<tr><td>{escape(resource)}</td><td>{L(line['basis'])}</td><td>{escape(line['price_version'])}</td>"
                f"<td class=n>{_quantity(line['quantity'], language)} {escape(unit)}</td>"
                f"<td class=n>{_number(line['unit_price'], language, 4)}</td>"
                f"<td class=n>{_number(str(discount), language, 0) + ' %' if discount else ''}"
                f"{' (' + escape(line['programme']) + ')' if line.get('programme') else ''}</td>"
                f"<td class=n>{money(line['amount'])}</td></tr>"
            )
        subtotal = sum((Decimal(line["amount"]) for line in lines), Decimal("0.00"))
        sections.append(
            f"<h2>{L('project')} {escape(project_id)} · {escape(first['region_id'])} / {escape(first['environment'])}</h2>"
            f"<table class=lines><thead><tr><th>{L('resource')}</th><th>{L('basis')}</th><th>{L('version')}</th>"
            f"<th class=n>{L('quantity')}</th><th class=n>{L('unit_price')}</th><th class=n>{L('discount')}</th>"
            f"<th class=n>{L('amount')}</th></tr></thead><tbody>{''.join(rows)}"
            f"<tr class=sub><td colspan=6>{L('subtotal')}</td><td class=n>{money(str(subtotal))}</td></tr></tbody></table>"
        )
    if not sections:
        sections.append(f"<p>{L('no_lines')}</p>")
    direction = "rtl" if language == "ar" else "ltr"
    return (
        f"<!doctype html><html lang={language} dir={direction}><head><meta charset=utf-8>"
        f"<style>{STYLE.replace('PAGE_COUNTER', PAGE_COUNTER[language])}</style></head><body>"
        f"<div class=brand>Sahab</div><h1>{L(statement.kind)}</h1>"
        + "".join(f"<div class=banner>{banner}</div>" for banner in banners)
        + "<table class=meta>"
        + "".join(f"<tr><td class=k>{k}</td><td>{v}</td></tr>" for k, v in meta)
        + "</table>"
        + "".join(sections)
        + f"<table class=totals><tr><td>{L('list_total')}</td><td class=n>{money(statement.list_total)}</td></tr>"
        f"<tr><td>{L('discount_total')}</td><td class=n>{money(statement.discount_total)}</td></tr>"
        f"<tr class=due><td>{L('total')}</td><td class=n>{money(statement.total)}</td></tr></table>"
        f"<p class=note>{L('rounding')}</p></body></html>"
    )


def to_pdf(statement: Statement, organisation: Organisation, language: str, translate: Callable[[str], str]) -> bytes:
    from weasyprint import HTML  # type: ignore[import-untyped]  # on demand: it loads Pango, which only exports need

    pdf: bytes = HTML(string=to_html(statement, organisation, language, translate)).write_pdf()
    return pdf
