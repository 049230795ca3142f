"""MkDocs hook: the Markdown pages render alike on GitHub and in the built manual.

GitHub needs a pipe inside a table cell's code span escaped (`a\\|b`); Python-Markdown keeps
the backslash there, and needs no escape since it never splits a cell inside backticks. So
the escape is dropped inside code spans on table rows before MkDocs renders a page.
"""

from __future__ import annotations

import re
from typing import Any

_CODE_SPAN = re.compile(r"`[^`\n]*`")


def _unescape_code(line: str) -> str:
    if not line.lstrip().startswith("|"):
        return line
    return _CODE_SPAN.sub(lambda m: m.group(0).replace("\\|", "|"), line)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """Called by MkDocs for every page."""
    return "\n".join(_unescape_code(line) for line in markdown.split("\n"))
