"""Every message catalogue of the repository (the API's, the CLI's, the portal's) is complete, current and
sound: no entry missing or left over relative to its source, nothing untranslated or fuzzy, the same
placeholders as the English, the plural rule Babel gives for the language."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from babel.messages.pofile import write_po

from i18n.catalogues import DOMAINS, ROOT, check, extracted, po_files, read, rendered

CATALOGUES = po_files()


def test_the_api_and_the_cli_speak_arabic_and_french() -> None:
    found = {str(path.relative_to(ROOT)) for path in CATALOGUES}
    assert {
        f"{edge}/locale/{language}/LC_MESSAGES/{edge}.po" for edge in ("api", "cli") for language in ("ar", "fr")
    } <= found


@pytest.mark.parametrize("path", CATALOGUES, ids=lambda path: str(path.relative_to(ROOT)))
def test_a_catalogue_is_complete_translated_and_sound(path: Path) -> None:
    assert check(path) == []


@pytest.mark.parametrize(
    "path", [path for path in CATALOGUES if path.stem in {"api", "cli"}], ids=lambda path: str(path.relative_to(ROOT))
)
def test_a_catalogue_is_as_i18n_update_would_write_it(path: Path) -> None:
    """Committed as `i18n/update` leaves it: running it would change nothing. (The portal's catalogues keep
    their own layout, with source locations; the test above checks their content all the same.)"""
    domain = DOMAINS[path.stem]
    assert path.read_bytes() == rendered(domain, path.parent.parent.name), "run i18n/update"


def test_the_api_catalogue_holds_every_error_title_and_a_core_detail() -> None:
    from controlplane import errors

    messages = {message.id for message in extracted(DOMAINS["api"])}
    pending, titles = [errors.SahabError], set()
    while pending:
        cls = pending.pop()
        titles.add(cls.title)
        pending.extend(cls.__subclasses__())
    assert titles <= messages
    assert "quota request {request_id} not found" in messages
    assert (
        "organisation {organisation_id} already has {waiting} request waiting for a decision (at most {limit}); "
        "cancel it or wait for an approver to decide"
    ) in {m if isinstance(m, str) else m[0] for m in messages}


@pytest.fixture
def damaged(tmp_path: Path) -> Path:
    """A copy of the French CLI catalogue, placed where its language and domain are read from."""
    copy = tmp_path / "locale" / "fr" / "LC_MESSAGES" / "cli.po"
    copy.parent.mkdir(parents=True)
    shutil.copy(ROOT / "cli/locale/fr/LC_MESSAGES/cli.po", copy)
    return copy


def _rewrite(path: Path, change) -> None:
    catalog = read(path)
    change(catalog)
    with path.open("wb") as target:
        write_po(target, catalog, no_location=True, sort_output=True)


def test_the_check_finds_a_missing_entry(damaged: Path) -> None:
    _rewrite(damaged, lambda catalog: catalog.delete("Regions"))
    assert [problem for problem in check(damaged) if "missing 'Regions'" in problem]


def test_the_check_finds_an_untranslated_entry(damaged: Path) -> None:
    def blank(catalog):
        catalog["Regions"].string = ""

    _rewrite(damaged, blank)
    assert [problem for problem in check(damaged) if "untranslated 'Regions'" in problem]


def test_the_check_finds_a_fuzzy_entry(damaged: Path) -> None:
    def fuzzy(catalog):
        catalog["Regions"].flags.add("fuzzy")

    _rewrite(damaged, fuzzy)
    assert [problem for problem in check(damaged) if "fuzzy 'Regions'" in problem]


def test_the_check_finds_a_placeholder_renamed_in_translation(damaged: Path) -> None:
    def rename(catalog):
        catalog["Members of {org}"].string = "Membres de {organisation}"

    _rewrite(damaged, rename)
    assert [problem for problem in check(damaged) if "placeholders of 'Members of {org}'" in problem]


def test_the_check_finds_an_entry_the_source_no_longer_has(damaged: Path) -> None:
    def add(catalog):
        catalog.add("A message nobody writes any more", "Un message que plus personne n’écrit")

    _rewrite(damaged, add)
    assert [problem for problem in check(damaged) if "no longer in the source" in problem]


def test_the_check_finds_a_wrong_plural_rule(tmp_path: Path) -> None:
    copy = tmp_path / "locale" / "ar" / "LC_MESSAGES" / "cli.po"
    copy.parent.mkdir(parents=True)
    text = (ROOT / "cli/locale/ar/LC_MESSAGES/cli.po").read_text()
    start = text.index('"Plural-Forms:')
    end = text.index('\n"MIME-Version')
    copy.write_text(text[:start] + '"Plural-Forms: nplurals=2; plural=(n != 1);\\n"' + text[end:])
    assert [problem for problem in check(copy) if "Plural-Forms" in problem]


def test_a_catalogue_of_an_unknown_domain_is_refused(tmp_path: Path) -> None:
    stray = tmp_path / "locale" / "fr" / "LC_MESSAGES" / "stray.po"
    stray.parent.mkdir(parents=True)
    shutil.copy(ROOT / "cli/locale/fr/LC_MESSAGES/cli.po", stray)
    assert check(stray) and "no domain 'stray'" in check(stray)[0]
