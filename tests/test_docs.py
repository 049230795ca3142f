"""The README is the manual: every setting and CLI command must be in it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from careloop.cli import app
from careloop.config import Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
# Reference pages under docs/ count for settings too (e.g. docs/operations-workers.md).
MANUAL = README + "".join(page.read_text() for page in sorted((ROOT / "docs").glob("*.md")))


def test_every_setting_is_documented() -> None:
    missing = [
        f"CARELOOP_{name.upper()}"
        for name in Settings.model_fields
        if f"CARELOOP_{name.upper()}" not in MANUAL
    ]
    assert not missing, f"settings missing from README and docs/: {missing}"


def _commands(group: Any, prefix: str = "careloop") -> list[str]:
    out = []
    for name, cmd in group.commands.items():
        full = f"{prefix} {name}"
        if hasattr(cmd, "commands"):
            out.extend(_commands(cmd, full))
        else:
            out.append(full)
    return out


def test_every_cli_command_is_documented() -> None:
    root = typer.main.get_command(app)
    assert hasattr(root, "commands")
    missing = [c for c in _commands(root) if f"`{c}" not in README]
    assert not missing, f"commands missing from README: {missing}"


def test_two_commands_are_in_the_readme() -> None:
    assert "make run" in README and "make test" in README
