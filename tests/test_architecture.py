"""The package arrows point one way, with no exemption and no cycle:

    app → web, scheduler → bot → crm, nlp → careloop (the kernel)

``app`` (the command line and the composition root) is on top of everything and nothing
imports it; ``careloop`` is the kernel (settings, errors, logging) and imports nothing of
ours. ``migrations`` reads crm's models; crm never imports it. No product package imports
``tests``, ``bench`` or ``devtools`` (the fake Telegram server for tests and benchmarks)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = {"careloop", "nlp", "crm", "bot", "scheduler", "web", "migrations", "app"}
BESIDE = {"tests", "bench", "devtools"}  # not installed; may import the product
OURS = PRODUCT | BESIDE
ALLOWED: dict[str, set[str]] = {
    "careloop": set(),
    "nlp": set(),
    "crm": {"careloop"},
    "migrations": {"careloop", "crm"},
    "bot": {"careloop", "crm", "nlp"},
    "scheduler": {"careloop", "crm", "bot", "nlp"},
    "web": {"careloop", "crm", "bot", "nlp", "scheduler"},
    "app": {"careloop", "crm", "bot", "nlp", "scheduler", "web", "migrations"},
    "devtools": set(),
}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & OURS


def package_graph() -> dict[str, set[str]]:
    """Package → the other packages of ours its modules import."""
    graph: dict[str, set[str]] = {}
    for package in sorted(OURS):
        imports: set[str] = set()
        for path in (ROOT / package).rglob("*.py"):
            imports |= imported_packages(path)
        graph[package] = imports - {package}
    return graph


def test_every_package_of_ours_is_known() -> None:
    """A new top-level package has to take its place in the arrows above."""
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert packages <= OURS, sorted(packages - OURS)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_dependency_direction(package: str) -> None:
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = imported_packages(path) - ALLOWED[package] - {package}
        if bad:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert not offenders, "\n".join(offenders)


def test_the_kernel_imports_nothing_of_ours() -> None:
    for path in sorted((ROOT / "careloop").rglob("*.py")):
        assert imported_packages(path) <= {"careloop"}, path


def test_no_product_package_imports_tests_bench_or_devtools() -> None:
    graph = package_graph()
    offenders = {p: sorted(graph[p] & BESIDE) for p in sorted(PRODUCT) if graph[p] & BESIDE}
    assert not offenders, offenders


def test_nothing_imports_the_app_but_the_tests() -> None:
    graph = package_graph()
    importers = sorted(p for p, imports in graph.items() if "app" in imports and p != "tests")
    assert not importers, importers


def test_the_package_graph_has_no_cycle() -> None:
    graph = package_graph()
    done: set[str] = set()

    def visit(package: str, path: list[str]) -> None:
        if package in path:
            cycle = [*path[path.index(package) :], package]
            raise AssertionError(f"import cycle: {' → '.join(cycle)}")
        if package in done:
            return
        for imported in sorted(graph[package]):
            visit(imported, [*path, package])
        done.add(package)

    for package in sorted(graph):
        visit(package, [])


def names_used(path: Path) -> set[str]:
    """Every plain name, attribute name and imported name in a module."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, ast.ImportFrom | ast.Import):
            found.update(alias.name.split(".")[-1] for alias in node.names)
    return found


@pytest.mark.parametrize("hidden", ["get_settings", "object_session"])
def test_crm_takes_its_settings_and_session_from_the_caller(hidden: str) -> None:
    """No hidden inputs in the domain: its callers pass the settings values and the
    session (bot, web and the scheduler hold them)."""
    offenders = sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "crm").rglob("*.py")
        if hidden in names_used(path)
    )
    assert offenders == []
