"""Builds the conversation engine from the settings (models loaded once per process)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.orm import Session, sessionmaker

from bot import book
from bot.engine import Engine
from bot.policy.escalation import PolicyConfig
from bot.responses import ResponseBook
from careloop.config import Settings
from crm.hours import BusinessHours
from nlp.encoder import SentenceEncoder
from nlp.pipeline import NLUConfig, load_nlu

log = logging.getLogger(__name__)


def nlu_config(settings: Settings) -> NLUConfig:
    return NLUConfig(
        model_dir=settings.effective_model_dir,
        intent_data=settings.intent_data,
        sentiment_data=settings.sentiment_data,
        intent_threshold=settings.intent_threshold,
        intent_oos_weight=settings.intent_oos_weight,
        sentiment_model=settings.sentiment_model or None,
        batch_max=settings.nlu_batch_max,
        batch_wait_ms=settings.nlu_batch_wait_ms,
    )


def build_engine(settings: Settings, encoder: SentenceEncoder | None = None) -> Engine:
    """Load the encoder and the active NLU models (training them on first start)."""
    started = time.perf_counter()
    encoder = encoder or SentenceEncoder(settings.encoder_model or None)
    nlu = load_nlu(encoder, nlu_config(settings))
    responses = ResponseBook.load(settings.responses_file)
    if settings.shop_name.strip():
        responses.shop["name"] = settings.shop_name.strip()
    hours = BusinessHours.parse(settings.business_hours, settings.business_timezone)
    log.info(
        "bot.engine.ready encoder=%s seconds=%.1f", encoder.name, time.perf_counter() - started
    )
    return Engine(nlu, responses, policy_config(settings), hours=hours, settings=settings)


def policy_config(settings: Settings) -> PolicyConfig:
    return PolicyConfig(
        strong_negative=settings.escalation_strong_negative,
        negative=settings.escalation_negative,
        negative_window=settings.escalation_negative_window,
        negative_count=settings.escalation_negative_count,
        fallbacks_in_a_row=settings.escalation_fallbacks,
        at_risk_negative=settings.escalation_at_risk_negative,
    )


async def watch_models(engine: Engine, settings: Settings) -> None:
    """Reload the NLU when `careloop nlu train` (any process) activates a new version."""
    interval = settings.nlu_reload_seconds
    if interval <= 0:
        return
    config = nlu_config(settings)
    while True:
        await asyncio.sleep(interval)
        try:
            await asyncio.to_thread(engine.nlu.reload_if_changed, config)
        except Exception:  # a half-written or broken artifact: keep serving the old one
            log.exception("nlu.reload_failed: still serving the previous models")


@asynccontextmanager
async def serving(
    engine: Engine,
    settings: Settings,
    factory: sessionmaker[Session],
    *,
    watch_book: bool = True,
) -> AsyncIterator[Engine]:
    """The engine at work in a server: answering with the response book published in the
    admin console (a database not migrated yet keeps the file's book), and picking up new
    NLU models and, with ``watch_book``, book versions that any process publishes."""
    try:
        await asyncio.to_thread(book.reload_with, factory, engine)
    except Exception:
        log.exception("bot.responses.load_failed: answering with the file's response book")
    watchers = [
        asyncio.create_task(watch_models(engine, settings), name="nlu-watch"),
        asyncio.create_task(
            book.watch(engine, factory, settings.nlu_reload_seconds if watch_book else 0),
            name="book-watch",
        ),
    ]
    try:
        yield engine
    finally:
        for watcher in watchers:
            watcher.cancel()
