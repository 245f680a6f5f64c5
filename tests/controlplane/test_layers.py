"""Repositories own the SQL: no other module of the core or the API builds a query.

A module builds a query when it calls SQLAlchemy's `select`, `update`, `delete`, `insert` or `text`, or a
session's `get`, `get_one`, `execute`, `scalar`, `scalars` or `query`, or writes rows with its `add`,
`add_all`, `delete` or `merge`. Those calls belong in a domain's `repository.py`, a read model's `readmodel.py` (what /metrics reads),
or in `persistence/`, which owns the engine and the schema."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONSTRUCTORS = {"select", "update", "delete", "insert", "text"}
SESSION_CALLS = {"get", "get_one", "execute", "scalar", "scalars", "query", "add", "add_all", "delete", "merge"}

# Modules that own their tables or the database itself, where a repository would only forward.
OWN_TABLES = {
    "controlplane/persistence/",  # the engine, sessions, migrations
    "controlplane/capacity.py",  # the running totals per region, their own table and the capacity read model
    "controlplane/pagination.py",  # keyset pagination of the statements repositories build
    "api/idempotency.py",  # the idempotency records, the API's own table
    "api/issuer/",  # the built-in issuer's grants, codes and tokens, its own tables
}


def _sqlalchemy_names(tree: ast.Module) -> set[str]:
    """Names bound by `from sqlalchemy... import select, ...` in this module."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sqlalchemy"):
            for alias in node.names:
                if alias.name in CONSTRUCTORS:
                    names.add(alias.asname or alias.name)
    return names


def _is_session(node: ast.expr) -> bool:
    return (isinstance(node, ast.Name) and node.id in ("session", "db")) or (
        isinstance(node, ast.Attribute) and node.attr == "session"
    )


def builds_queries(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    constructors = _sqlalchemy_names(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        function = node.func
        if isinstance(function, ast.Name) and function.id in constructors:
            found.append(f"{function.id}() line {node.lineno}")
        elif isinstance(function, ast.Attribute) and function.attr in SESSION_CALLS and _is_session(function.value):
            found.append(f"session.{function.attr}() line {node.lineno}")
    return found


def _allowed(relative: str) -> bool:
    if relative.endswith(("/repository.py", "/readmodel.py")):
        return True
    return any(relative == entry or relative.startswith(entry) for entry in OWN_TABLES)


def test_only_repositories_build_queries():
    offenders = {}
    for package in ("controlplane", "api"):
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if "/migrations/" in relative or _allowed(relative):
                continue
            found = builds_queries(path)
            if found:
                offenders[relative] = found
    assert offenders == {}, "queries outside a repository (move them into the domain's repository.py)"


def test_the_check_sees_a_query(tmp_path):
    module = tmp_path / "module.py"
    module.write_text(
        "from sqlalchemy import select as pick\n"
        "def f(session):\n"
        "    session.get(A, 1)\n"
        "    return session.scalars(pick(A))\n"
    )
    assert sorted(builds_queries(module)) == ["pick() line 4", "session.get() line 3", "session.scalars() line 4"]
