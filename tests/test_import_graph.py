"""The import graph of controlplane, api and cli has no cycles: every module can be read (and
imported) after the ones it needs. Imports inside functions and under TYPE_CHECKING count as
arrows too, so a cycle cannot hide behind a late import."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import grimp
import pytest

PACKAGES = ("controlplane", "api", "cli")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, "stacks", exclude_type_checking_imports=False, cache_dir=None)


def _arrows(graph: grimp.ImportGraph, node: Callable[[str], str]) -> dict[str, set[str]]:
    """Importer -> imported among our packages' modules, each module mapped to a node by `node`."""
    arrows: dict[str, set[str]] = {}
    for module in graph.modules:
        if module.split(".")[0] not in PACKAGES:
            continue
        source = node(module)
        arrows.setdefault(source, set())
        for imported in graph.find_modules_directly_imported_by(module):
            target = node(imported)
            if imported.split(".")[0] in PACKAGES and target != source:
                arrows[source].add(target)
                arrows.setdefault(target, set())
    return arrows


def _cycles(arrows: dict[str, set[str]]) -> Iterator[list[str]]:
    """Strongly connected components of more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    for root in sorted(arrows):
        if root in index:
            continue
        work = [(root, iter(sorted(arrows[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(arrows[successor]))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        yield sorted(component)


def _explain(graph: grimp.ImportGraph, component: list[str]) -> str:
    members = set(component)
    lines = []
    for importer in component:
        for imported in sorted(graph.find_modules_directly_imported_by(importer) & members):
            where = [d["line_number"] for d in graph.get_import_details(importer=importer, imported=imported)]
            lines.append(f"  {importer} -> {imported} (line {', '.join(map(str, where))})")
    return "\n".join(lines)


def test_no_module_imports_itself_through_others(graph: grimp.ImportGraph) -> None:
    cycles = list(_cycles(_arrows(graph, lambda module: module)))
    assert not cycles, "import cycles:\n" + "\n".join(_explain(graph, c) for c in cycles)


@pytest.mark.parametrize("package", ["api", "cli"])
def test_the_edges_subpackages_form_no_cycle(graph: grimp.ImportGraph, package: str) -> None:
    """api.auth, api.issuer, api.portal, api.routes... (and cli's) depend one way."""

    def subpackage(module: str) -> str:
        return ".".join(module.split(".")[:2])

    arrows = {k: v for k, v in _arrows(graph, subpackage).items() if k.startswith(package + ".") or k == package}
    arrows = {k: {t for t in v if t in arrows} for k, v in arrows.items()}
    assert not list(_cycles(arrows))


def test_the_wiring_is_in_no_cycle_between_controlplanes_subpackages(graph: grimp.ImportGraph) -> None:
    """Taken package by package, the domains still lean on each other (README, Module map); the
    processes' entry points, their composition roots, the Celery adapters, the workflow, the
    provisioning runner and the ports already depend one way."""

    def subpackage(module: str) -> str:
        return ".".join(module.split(".")[:2])

    arrows = {k: v for k, v in _arrows(graph, subpackage).items() if k.startswith("controlplane.")}
    arrows = {k: {t for t in v if t in arrows} for k, v in arrows.items()}
    in_cycles = {member for component in _cycles(arrows) for member in component}
    wiring = {
        "controlplane.worker",
        "controlplane.composition",
        "controlplane.tasks",
        "controlplane.workflows",
        "controlplane.provisioning",
        "controlplane.ports",
    }
    assert not wiring & in_cycles


def test_the_detected_cycle_is_reported() -> None:
    """The check itself finds a cycle when there is one."""
    assert list(_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})) == [["a", "b", "c"]]
