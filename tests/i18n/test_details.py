"""Every detail the core and the API raise is a `Detail` template, so that it can be said in French and
Arabic: an f-string or a plain string given to an error of the core's tree would reach a reader in
English only (and would not be extracted into the catalogues)."""

from __future__ import annotations

import ast
from pathlib import Path

from controlplane import errors
from i18n.catalogues import ROOT

# The built-in issuer speaks OAuth (its errors are RFC 6749's, not problems); the portal has its own domain.
SKIPPED = {ROOT / "api" / "issuer", ROOT / "api" / "portal"}


def _error_names() -> set[str]:
    names, pending = set(), [errors.SahabError]
    while pending:
        cls = pending.pop()
        names.add(cls.__name__)
        pending.extend(cls.__subclasses__())
    return names


def _sources() -> list[Path]:
    return [
        path
        for package in ("controlplane", "api")
        for path in sorted((ROOT / package).rglob("*.py"))
        if not any(skipped in path.parents for skipped in SKIPPED)
    ]


def _untemplated(path: Path, names: set[str]) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        name = getattr(node.func, "id", getattr(node.func, "attr", ""))
        first = node.args[0]
        plain = isinstance(first, ast.JoinedStr) or (isinstance(first, ast.Constant) and isinstance(first.value, str))
        # An error of the core's tree, or a ValueError a pydantic schema turns into a validation message.
        if plain and (name in names or (name == "ValueError" and path.name == "schemas.py")):
            found.append(f"{path}:{node.lineno} {name}")
    return found


def test_every_raised_detail_is_a_template() -> None:
    names = _error_names()
    assert [line for path in _sources() for line in _untemplated(path, names)] == []


def test_the_check_sees_an_f_string(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text('def f(x):\n    raise NotFound(f"project {x} not found")\n')
    assert len(_untemplated(sample, {"NotFound"})) == 1
    sample.write_text('def f(x):\n    raise NotFound(Detail("project {x} not found", x=x))\n')
    assert _untemplated(sample, {"NotFound"}) == []
