"""The response book at run time: check a new version before it is stored, preview it
with sample data, and put the active stored version into a running engine, so an edit
made in the admin console answers customers without a restart."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import TemplateError
from sqlalchemy.orm import Session, sessionmaker

from bot.engine import Engine
from bot.responses import ResponseBook, ResponsesError, default_path
from crm.audit import Actor
from crm.models import ResponseBookVersion
from crm.response_book import service as stored

log = logging.getLogger(__name__)

# What a preview renders with: a known customer with a shipped order, in the order dialogue.
SAMPLE_CONTEXT: dict[str, Any] = {
    "customer": {"first_name": "Sam", "name": "Sam Jones"},
    "order": {
        "ref": "A-1042",
        "status": "shipped",
        "date": "28 Nov 2026",
        "total": "€59.90",
        "items": 2,
        "carrier": "DHL",
        "tracking_number": "00340434161234567890",
        "tracking_url": "https://www.dhl.de/de/privatkunden/pakete-empfangen/verfolgen.html?piececode=00340434161234567890",
        "estimated_delivery": "6 Dec 2026",
        "address": "Hauptstraße 1, 10115 Berlin",
    },
    "ref": "A-1042",
    "retry": True,
    "focused": True,
    "reason": "doesn't fit",
    "new_address": "Lindenweg 5, 10117 Berlin",
    "trouble": True,
    "late": True,
    "general": False,
    "exchange": False,
    "opted_out": True,
    "wait": "10 minutes",
    "reopens": "tomorrow at 09:00",
}


@functools.cache
def required_keys() -> frozenset[str]:
    """The answers the bot's code asks for: every key of the shipped book."""
    return frozenset(ResponseBook.load(default_path()).answers())


def check(source: str) -> ResponseBook:
    """The book in ``source``, refused (``ResponsesError``) when it cannot be read, a
    template does not compile, or an answer the bot needs is missing."""
    book = ResponseBook.parse(source, where="response book")
    missing = sorted(required_keys() - set(book.answers()))
    if missing:
        raise ResponsesError(f"response book: missing answers for {', '.join(missing)}")
    return book


@dataclass(frozen=True)
class PreviewItem:
    key: str
    index: int
    requires: list[str]
    text: str | None
    buttons: list[str]
    error: str | None


def preview(book: ResponseBook, context: dict[str, Any] | None = None) -> list[PreviewItem]:
    """Every variant of every answer rendered with ``context`` (default: the sample)."""
    context = SAMPLE_CONTEXT if context is None else context
    items = []
    for key in book.answers():
        for i, variant in enumerate(book.variants(key)):
            text, error = None, None
            try:
                text = book.render_variant(key, i, context)
            except TemplateError as exc:
                error = str(exc)
            items.append(
                PreviewItem(
                    key,
                    i,
                    sorted(variant.requires),
                    text,
                    [b.text for b in variant.buttons],
                    error,
                )
            )
    return items


@dataclass(frozen=True)
class Active:
    """The book customers get: a stored version, or (version 0) the file."""

    version: int
    source: str
    comment: str
    created_by: str | None
    created_at: dt.datetime | None


def active(session: Session, file: Path | None) -> Active:
    row = stored.latest(session)
    if row is not None:
        return Active(row.version, row.source, row.comment, row.created_by, row.created_at)
    path = file or default_path()
    return Active(0, path.read_text(encoding="utf-8"), f"the file {path.name}", None, None)


def publish(
    session: Session, *, source: str, comment: str, by: Actor, restored_from: int | None = None
) -> tuple[ResponseBookVersion, ResponseBook]:
    """Check ``source`` and store it as the next version; the caller commits, then puts
    the returned book into the engine (``engine.responses = book``)."""
    book = check(source)
    row = stored.store(session, source=source, comment=comment, by=by, restored_from=restored_from)
    book.version = row.version
    return row, book


def reload(session: Session, engine: Engine) -> int:
    """Put the newest stored version into ``engine`` when it is not there yet; returns
    the version now in use (0: the file). A version that no longer passes the checks
    (after an upgrade) is logged and the current book kept."""
    row = stored.latest(session)
    if row is None or row.version == engine.responses.version:
        return engine.responses.version
    try:
        book = check(row.source)
    except ResponsesError as exc:
        log.error("bot.responses.reload_refused version=%d error=%s", row.version, exc)
        return engine.responses.version
    book.version = row.version
    engine.responses = book
    log.info("bot.responses.reloaded version=%d", row.version)
    return row.version


def reload_with(factory: sessionmaker[Session], engine: Engine) -> int:
    with factory() as session:
        return reload(session, engine)


async def watch(engine: Engine, factory: sessionmaker[Session], interval: float) -> None:
    """Pick up versions published by another process (every ``interval`` seconds)."""
    if interval <= 0:
        return
    while True:
        await asyncio.sleep(interval)
        try:
            await asyncio.to_thread(reload_with, factory, engine)
        except Exception:  # the database is away for a moment: keep the current book
            log.exception("bot.responses.watch_failed: still serving the current book")
