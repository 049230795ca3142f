"""The manual stays true: every setting, command and option is documented in docs/, the API
reference matches the app, every link leads somewhere, and the README stays a quick start."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import typer
import yaml
from pydantic import SecretStr

from app.cli import app
from careloop.config import Settings

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = (ROOT / "README.md").read_text()
CONFIGURATION = (DOCS / "configuration.md").read_text()
CLI = (DOCS / "cli.md").read_text()
README_MAX_BYTES = 20 * 1024


def _env_name(field: str) -> str:
    return f"CARELOOP_{field.upper()}"


def _table_rows(page: str) -> list[list[str]]:
    """The cells of every Markdown table row of ``page`` (escaped pipes kept in cells)."""
    rows = []
    for line in page.splitlines():
        if line.startswith("|") and not line.startswith("| ---"):
            cells = re.split(r"(?<!\\)\|", line.strip().strip("|"))
            rows.append([cell.strip() for cell in cells])
    return rows


# -- settings ---------------------------------------------------------------------------


def test_every_setting_is_documented() -> None:
    missing = [
        _env_name(name)
        for name in Settings.model_fields
        if f"`{_env_name(name)}`" not in CONFIGURATION
    ]
    assert not missing, f"settings missing from docs/configuration.md: {missing}"


def test_no_setting_is_documented_that_does_not_exist() -> None:
    known = {_env_name(name) for name in Settings.model_fields}
    documented = {
        name
        for row in _table_rows(CONFIGURATION)
        for name in re.findall(r"`(CARELOOP_[A-Z0-9_]+)`", row[0])
    }
    assert documented, "no settings table found in docs/configuration.md"
    assert not documented - known, f"documented but not settings: {sorted(documented - known)}"


def _plain_default(field: Any) -> str | None:
    """The default as the docs write it, for defaults simple enough to compare."""
    value = field.default
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str) and value and len(value) <= 40:
        return value
    if isinstance(value, Path):
        return str(value)
    if field.default_factory is list:
        return "[]"
    return None


def _same(documented: str, default: str) -> bool:
    try:
        return float(documented) == float(default)
    except ValueError:
        return documented == default


def test_documented_defaults_match_the_code() -> None:
    rows = {
        name: row
        for row in _table_rows(CONFIGURATION)
        for name in re.findall(r"`(CARELOOP_[A-Z0-9_]+)`", row[0])
    }
    wrong = []
    for name, field in Settings.model_fields.items():
        default = _plain_default(field)
        row = rows.get(_env_name(name))
        if default is None or row is None or isinstance(field.default, SecretStr):
            continue
        shown = re.findall(r"`([^`]*)`", row[1])
        if not any(_same(value, default) for value in shown):
            wrong.append(f"{_env_name(name)}: code {default!r}, docs {row[1]!r}")
    assert not wrong, "defaults in docs/configuration.md differ from the code:\n" + "\n".join(wrong)


# -- command line -----------------------------------------------------------------------


def _commands(group: Any, prefix: str = "careloop") -> list[tuple[str, Any]]:
    out = []
    for name, cmd in group.commands.items():
        full = f"{prefix} {name}"
        if hasattr(cmd, "commands"):
            out.extend(_commands(cmd, full))
        else:
            out.append((full, cmd))
    return out


def _cli_commands() -> list[tuple[str, Any]]:
    root = typer.main.get_command(app)
    assert hasattr(root, "commands")
    return _commands(root)


def test_every_cli_command_is_documented() -> None:
    missing = [name for name, _ in _cli_commands() if f"`{name}" not in CLI]
    assert not missing, f"commands missing from docs/cli.md: {missing}"


def test_every_cli_option_is_documented() -> None:
    rows = [row[0] for row in _table_rows(CLI)]
    missing = []
    for name, cmd in _cli_commands():
        row = next(
            (
                r
                for r in rows
                if r.startswith(f"`{name}") and r[len(name) + 1 : len(name) + 2] in " `"
            ),
            None,
        )
        if row is None:
            continue  # reported by the test above
        for param in cmd.params:
            flags = [o for o in (*param.opts, *param.secondary_opts) if o.startswith("--")]
            if flags and not any(flag in row for flag in flags) and param.name != "help":
                missing.append(f"{name} {flags[0]}")
            for flag in flags:  # a number shown with an option is its default
                for shown in re.findall(rf"\[{flag} (\d+(?:\.\d+)?)\]", row):
                    if float(shown) != float(param.default):
                        missing.append(f"{name} {flag}: docs {shown}, code {param.default}")
    assert not missing, f"options missing or wrong in their command's row in docs/cli.md: {missing}"


# -- HTTP API reference -----------------------------------------------------------------


def _gen_api() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_gen_api", DOCS / "gen_api.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_api_reference_is_up_to_date() -> None:
    gen = _gen_api()
    page = gen.render(gen.openapi_document())
    assert (DOCS / "api-reference.md").read_text() == page, (
        "docs/api-reference.md is out of date: run `python docs/gen_api.py` (make api-docs)"
    )


def test_api_reference_lists_every_json_route() -> None:
    gen = _gen_api()
    doc = gen.openapi_document()
    page = (DOCS / "api-reference.md").read_text()
    for path, ops in doc["paths"].items():
        for method in ops:
            assert f"### `{method.upper()} {path}`" in page


# -- links, navigation, README ----------------------------------------------------------


def _slug(heading: str) -> str:
    """The anchor MkDocs (Python-Markdown's toc) gives a heading."""
    text = re.sub(r"[^\w\s-]", "", re.sub(r"`", "", heading)).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {_slug(m) for m in re.findall(r"^#+ (.+)$", text, flags=re.M)}


def _markdown_files() -> list[Path]:
    return [
        ROOT / "README.md",
        *sorted(DOCS.glob("*.md")),
        *sorted((ROOT / "bench/results").glob("*.md")),
    ]


def test_links_lead_to_existing_files_and_headings() -> None:
    broken = []
    for page in _markdown_files():
        text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
        text = re.sub(r"`[^`\n]*`", "", text)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            dest = (page.parent / path) if path else page
            if not dest.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such heading)")
    assert not broken, "broken links:\n" + "\n".join(broken)


def _nav_files(items: Any) -> list[str]:
    out: list[str] = []
    for item in items:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict):
            for value in item.values():
                out.extend(_nav_files(value) if isinstance(value, list) else [value])
    return out


def test_every_page_is_in_the_manual_and_every_nav_entry_exists() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    nav = _nav_files(config["nav"])
    assert not [p for p in nav if not (DOCS / p).exists()], "mkdocs.yml names missing pages"
    pages = {p.name for p in DOCS.glob("*.md")} | {
        f"bench-results/{p.name}" for p in (ROOT / "bench/results").glob("*.md")
    }
    orphans = sorted(pages - set(nav))
    assert not orphans, f"pages not in mkdocs.yml's nav: {orphans}"


def test_readme_is_a_quick_start() -> None:
    assert "make run" in README and "make test" in README
    assert "`make test` is the test command" in README
    size = len(README.encode())
    assert size <= README_MAX_BYTES, f"README.md is {size} bytes; the manual belongs in docs/"


def test_manual_builds_strictly(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "configuration.html").exists()
