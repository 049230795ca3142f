"""The package arrows point one way: web, scheduler → bot → crm, nlp; nothing imports web."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = {"careloop", "nlp", "crm", "bot", "scheduler", "web", "migrations"}
ALLOWED: dict[str, set[str]] = {
    "nlp": set(),
    "crm": {"careloop", "migrations"},
    "bot": {"careloop", "crm", "nlp"},
    "scheduler": {"careloop", "crm", "bot", "nlp"},
    "web": {"careloop", "crm", "bot", "nlp", "scheduler"},
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


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_dependency_direction(package: str) -> None:
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = imported_packages(path) - ALLOWED[package] - {package}
        if bad:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert not offenders, "\n".join(offenders)


def test_core_package_imports_only_itself() -> None:
    for path in (ROOT / "careloop").rglob("*.py"):
        if path.name == "cli.py":
            continue  # the CLI is the top of the stack
        assert imported_packages(path) <= {"careloop"}, path
