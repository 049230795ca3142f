"""Helper processes: a second Python process that does half of a big job (reading the
order history, importing half an orders file) on the machine's other core.

A plain subprocess (``python -m MODULE``), not multiprocessing: nothing of the caller's
``__main__`` is imported again, and the helper is an ordinary command."""

from __future__ import annotations

import subprocess
import sys


def start_helper(module: str, arguments: list[str], database_url: str) -> subprocess.Popen[bytes]:
    """Start ``python -m module arguments``; its stdout is a pipe. The database URL goes on
    its stdin (``read_database_url``): a password would show in the process list as an
    argument."""
    process = subprocess.Popen(
        [sys.executable, "-m", module, *arguments],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert process.stdin is not None
    try:
        process.stdin.write(database_url.encode() + b"\n")
        process.stdin.close()
    except BrokenPipeError:  # the helper is gone already; its result says so
        pass
    return process


def read_database_url() -> str:
    """In the helper: the URL ``start_helper`` sent."""
    return sys.stdin.readline().strip()
