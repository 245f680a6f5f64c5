"""The tests' layout: a test module imports no other test module (nor a conftest). What tests share
lives in tests/support/ and tests/factories.py; fixtures reach a test through pytest, not an import."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
SHARED = ("tests.support", "tests.factories")


def _shared(module: str) -> bool:
    return any(module == allowed or module.startswith(allowed + ".") for allowed in SHARED)


def imported_test_modules(path: Path) -> list[str]:
    """What `path` imports from the tests package that is not shared code, as `line: module`."""
    wrong = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: always another test module or a conftest
                names = ["." * node.level + (node.module or "")]
            elif node.module == "tests":
                names = [f"tests.{alias.name}" for alias in node.names]
            else:
                names = [node.module or ""]
        else:
            continue
        wrong += [f"{node.lineno}: {name}" for name in names if name.startswith(("tests", ".")) and not _shared(name)]
    return wrong


def test_no_test_module_imports_another_test_module():
    found = {
        str(path.relative_to(TESTS)): wrong
        for path in sorted(TESTS.rglob("*.py"))
        if (wrong := imported_test_modules(path))
    }
    assert found == {}, "move what they share into tests/support/ (or tests/factories.py)"


def test_the_rule_sees_every_form_of_import(tmp_path):
    module = tmp_path / "test_example.py"
    module.write_text(
        "import tests.api.test_x\n"
        "from tests.monitoring.conftest import tool\n"
        "from tests import factories, helpers\n"
        "from .conftest import thing\n"
        "from tests.support.api import create_request\n"
        "import tests.support.waiting\n"
        "def f():\n    from tests.e2e.test_y import z\n"
    )
    assert sorted(imported_test_modules(module)) == [
        "1: tests.api.test_x",
        "2: tests.monitoring.conftest",
        "3: tests.helpers",
        "4: .conftest",
        "8: tests.e2e.test_y",
    ]
