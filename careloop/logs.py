"""Logging set-up: one line per event, dotted event names, key=value context."""

from __future__ import annotations

import logging
import sys


def configure_logging(level: str = "INFO") -> None:
    """Configure the root logger once; safe to call again."""
    root = logging.getLogger()
    if not any(getattr(h, "_careloop", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        )
        handler._careloop = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "apscheduler.executors.default", "sentence_transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
