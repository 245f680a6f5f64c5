"""The portal's catalogues: every message of its templates and code is translated in French and
Arabic, nothing is fuzzy, and every translation keeps the placeholders of its English source."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

PORTAL = Path(__file__).resolve().parents[2] / "api" / "portal"
PLACEHOLDER = re.compile(r"%\((\w+)\)s|%%")


def source_messages() -> set[str]:
    method_map = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
    options = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    keywords = {"_": None, "gettext": None, "N_": None}
    return {
        message
        for _, _, message, *_ in extract_from_dir(str(PORTAL), method_map, options, keywords=keywords)
        if isinstance(message, str) and message
    }


@pytest.mark.parametrize("language", ["fr", "ar"])
def test_every_portal_message_is_translated(language):
    with (PORTAL / "locale" / language / "LC_MESSAGES" / "portal.po").open("rb") as handle:
        catalog = read_po(handle)
    entries = {m.id: m for m in catalog if m.id}
    missing = sorted(source_messages() - set(entries))
    assert not missing, f"{language}: not in the catalogue: {missing}"
    untranslated = sorted(m.id for m in entries.values() if not m.string)
    assert not untranslated, f"{language}: untranslated: {untranslated}"
    fuzzy = sorted(m.id for m in entries.values() if m.fuzzy)
    assert not fuzzy and not catalog.fuzzy, f"{language}: fuzzy: {fuzzy}"
    for message in entries.values():
        assert sorted(PLACEHOLDER.findall(message.id)) == sorted(PLACEHOLDER.findall(message.string)), message.id
