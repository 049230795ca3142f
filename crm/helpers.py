"""Helper processes: a second Python process that does half of a big job (reading the
order history, importing half an orders file) on the machine's other core.

A plain subprocess (``python -m MODULE``), not multiprocessing: nothing of the caller's
``__main__`` is imported again, and the helper is an ordinary command."""

from __future__ import annotations

import subprocess
import sys
from typing import IO, Self


class Helper:
    """``python -m module arguments``, running; its stdout is a pipe. The database URL goes
    on its stdin (``read_database_url``): a password would show in the process list as an
    argument. As a context manager, the process is gone (killed if need be) at the end."""

    def __init__(self, module: str, arguments: list[str], database_url: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", module, *arguments],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.stdout: IO[bytes] = self.process.stdout
        try:
            self.process.stdin.write(database_url.encode() + b"\n")
            self.process.stdin.close()
        except BrokenPipeError:  # the helper is gone already; its result says so
            pass

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.stdout.close()


def read_database_url() -> str:
    """In the helper: the URL ``Helper`` sent."""
    return sys.stdin.readline().strip()
