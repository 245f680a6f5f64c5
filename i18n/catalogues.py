"""Sahab's message catalogues: what each domain's source says (extraction) and the .po files that translate it.

English is the source language: msgids are the English text. One gettext domain per edge, each with
its catalogues at `<locale dir>/<language>/LC_MESSAGES/<domain>.po`:

- `api`: problem titles (every error class's `title`), `Detail(...)` templates of the core and the API,
  and the API's own `N_(...)` messages (validation wording, Starlette's phrases);
- `cli`: the CLI's `_(...)`, `ngettext(...)` and `N_(...)` messages;
- `portal`: the web portal's Python (`_`, `gettext`, `ngettext`) and Jinja2 templates.

`i18n/update` runs `update()`; tests/i18n/test_catalogues.py checks every .po of the repository with
`check()` and `extracted()`. No .mo files: the API and the CLI compile a .po in memory when loaded.
"""

from __future__ import annotations

import ast
import io
import string
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir, extract_python
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
LANGUAGES = ("ar", "fr")
# Folders never searched for catalogues or sources (virtualenvs, vendored packages, build output).
IGNORED_PARTS = {".venv", "node_modules", ".git", "build", "dist", "__pycache__"}


@dataclass(frozen=True)
class Domain:
    name: str
    locale_dir: str
    # (glob relative to the repository, extraction method) in Babel's mapping form; the first match wins.
    mapping: tuple[tuple[str, str], ...]
    keywords: dict[str, Any]
    options: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()  # (glob, extractor options)


DOMAINS = {
    "api": Domain(
        "api",
        "api/locale",
        (
            ("api/portal/**", "ignore"),
            ("api/issuer/**", "ignore"),
            ("api/**.py", "i18n.catalogues:extract_sahab"),
            ("controlplane/**.py", "i18n.catalogues:extract_sahab"),
        ),
        {"Detail": None, "N_": None, "counted": (1, 2)},  # Detail.counted and api.i18n.counted
    ),
    "cli": Domain(
        "cli",
        "cli/locale",
        (("cli/main.py", "i18n.catalogues:extract_cli"), ("cli/**.py", "python")),
        {"_": None, "N_": None, "ngettext": (1, 2)},
        (("cli/main.py", (("help_of", "cli.main:app"),)),),
    ),
    # As api/portal/babel.cfg says (pybabel's default keywords and N_).
    "portal": Domain(
        "portal",
        "api/portal/locale",
        (("api/portal/**.py", "python"), ("api/portal/**/templates/**.html", "jinja2.ext:babel_extract")),
        {**DEFAULT_KEYWORDS, "N_": None},
        (("api/portal/**/templates/**.html", (("extensions", "jinja2.ext.i18n"),)),),
    ),
}


def extract_sahab(fileobj: Any, keywords: Any, comment_tags: Any, options: Any) -> Iterator[tuple]:
    """Babel's Python extraction, plus the `title` of every error class (a class that sets both a
    string `code` and a string `title`, as the classes of controlplane/errors.py do)."""
    source = fileobj.read()
    yield from extract_python(io.BytesIO(source), keywords, comment_tags, options)
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ClassDef):
            continue
        constants = {
            target.id: statement.value
            for statement in node.body
            if isinstance(statement, ast.Assign)
            for target in statement.targets
            if isinstance(target, ast.Name)
        }
        title, code = constants.get("title"), constants.get("code")
        if all(isinstance(value, ast.Constant) and isinstance(value.value, str) for value in (title, code)):
            yield title.lineno, "N_", title.value, []  # as if marked N_("...")


def extract_cli(fileobj: Any, keywords: Any, comment_tags: Any, options: Any) -> Iterator[tuple]:
    """Babel's Python extraction, plus (for the module named by the `help_of` option, `module:typer_app`)
    every help text of the CLI's command tree as Typer builds it: what cli.i18n.translate_help looks up."""
    yield from extract_python(fileobj, keywords, comment_tags, options)
    if options.get("help_of"):
        import importlib

        import typer.main

        from cli.i18n import help_texts

        module, name = options["help_of"].split(":")
        command = typer.main.get_command(getattr(importlib.import_module(module), name))
        for _, _, text in help_texts(command):
            yield 0, "N_", text, ["i18n: a --help text"]


def extracted(domain: Domain) -> Catalog:
    """The domain's messages as its source says them now (a template: msgstrs empty; read only)."""
    return _extracted(domain.name)


@cache
def _extracted(name: str) -> Catalog:
    domain = DOMAINS[name]
    catalog = Catalog(domain=domain.name, project="Sahab", fuzzy=False)
    for path, lineno, message, comments, context in extract_from_dir(
        str(ROOT),
        method_map=list(domain.mapping),
        keywords=domain.keywords,
        comment_tags=("i18n:",),
        options_map={pattern: dict(options) for pattern, options in domain.options},
        strip_comment_tags=True,
        directory_filter=_searched,
    ):
        catalog.add(message, None, [(path, lineno)], auto_comments=comments, context=context)
    return catalog


def _searched(dirpath: str) -> bool:
    return not (set(Path(dirpath).parts) & IGNORED_PARTS)


def po_files() -> list[Path]:
    """Every catalogue in the repository, whoever wrote it."""
    return sorted(
        path
        for path in ROOT.glob("**/locale/*/LC_MESSAGES/*.po")
        if not set(path.relative_to(ROOT).parts) & IGNORED_PARTS
    )


def read(path: Path) -> Catalog:
    with path.open("rb") as source:
        return read_po(source, locale=path.parent.parent.name, domain=path.stem)


def catalogue_path(domain: Domain, language: str) -> Path:
    return ROOT / domain.locale_dir / language / "LC_MESSAGES" / f"{domain.name}.po"


def update(domain: Domain) -> list[Path]:
    """Bring the domain's catalogues in line with its source: new messages added untranslated, messages
    no longer in the source removed, translations kept. Returns the files written."""
    template = extracted(domain)
    written = []
    for language in LANGUAGES:
        path = catalogue_path(domain, language)
        if not path.exists() and not len(template):
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rendered(domain, language, template))
        written.append(path)
    return written


def rendered(domain: Domain, language: str, template: Catalog | None = None) -> bytes:
    """The catalogue as `update` writes it: the existing translations merged with the source's messages."""
    template = template if template is not None else extracted(domain)
    path = catalogue_path(domain, language)
    catalog = (
        read(path)
        if path.exists()
        else Catalog(locale=Locale.parse(language), domain=domain.name, project="Sahab", fuzzy=False)
    )
    created, revised = catalog.creation_date, catalog.revision_date
    catalog.update(template, no_fuzzy_matching=True, update_header_comment=False)
    catalog.obsolete.clear()
    # A stable header: the file changes only when its messages do.
    catalog.creation_date, catalog.revision_date = created, revised
    catalog.project, catalog.version, catalog.msgid_bugs_address = "Sahab", "0.1.0", ""
    catalog.last_translator = catalog.language_team = "Sahab"
    catalog.header_comment = (
        f"# {Locale.parse(language).english_name} messages of Sahab ({domain.name}).\n"
        "# English is the source language; update with i18n/update (README, Languages)."
    )
    target = io.BytesIO()
    # No source locations: they would change with every moved line and hide real changes.
    write_po(target, catalog, width=100, no_location=True, omit_header=False, sort_output=True, include_previous=False)
    return target.getvalue()


def placeholders(text: str) -> set[str]:
    """The `{name}` fields a str.format template uses ({{ and }} are literal braces)."""
    try:
        return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}
    except ValueError:
        return {"<unbalanced braces>"}


def check(path: Path) -> list[str]:
    """What is wrong with one catalogue, relative to its domain's source: one line per problem."""
    problems: list[str] = []
    domain = DOMAINS.get(path.stem)
    if domain is None:
        return [f"{path}: no domain {path.stem!r} in i18n/catalogues.py DOMAINS: add how its messages are extracted"]
    catalog = read(path)
    expected = Locale.parse(path.parent.parent.name)
    if catalog.plural_forms != Catalog(locale=expected).plural_forms:
        problems.append(
            f"{path}: Plural-Forms is {catalog.plural_forms!r}, Babel's for {expected} is "
            f"{Catalog(locale=expected).plural_forms!r}"
        )
    source = {
        message.id if isinstance(message.id, str) else message.id[0] for message in extracted(domain) if message.id
    }
    present = {
        message.id if isinstance(message.id, str) else message.id[0]: message for message in catalog if message.id
    }
    for missing in sorted(source - set(present)):
        problems.append(f"{path}: missing {missing!r} (run i18n/update, then translate)")
    for stale in sorted(set(present) - source):
        problems.append(f"{path}: {stale!r} is no longer in the source (run i18n/update)")
    for key, message in sorted(present.items()):
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        strings = [message.string] if isinstance(message.string, str) else list(message.string or ())
        if message.fuzzy:
            problems.append(f"{path}: fuzzy {key!r}")
        if not strings or not all(strings):
            problems.append(f"{path}: untranslated {key!r}")
            continue
        if isinstance(message.id, (list, tuple)) and len(strings) != catalog.num_plurals:
            problems.append(f"{path}: {key!r} has {len(strings)} plural forms, {catalog.num_plurals} expected")
        wanted = set().union(*(placeholders(text) for text in ids))
        for text in strings:
            if placeholders(text) - wanted or (
                not isinstance(message.id, (list, tuple)) and placeholders(text) != wanted
            ):
                problems.append(
                    f"{path}: placeholders of {key!r} are {sorted(wanted)}, the translation has "
                    f"{sorted(placeholders(text))}: {text!r}"
                )
    if catalog.obsolete:
        problems.append(f"{path}: {len(catalog.obsolete)} obsolete entries (#~): run i18n/update")
    return problems
