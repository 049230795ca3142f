"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot import book
from bot.engine import Engine as BotEngine
from bot.factory import watch_models
from bot.telegram.channel import TelegramChannel
from careloop import __version__
from careloop.config import Environment, Settings, get_settings, weak_secret_reason
from careloop.logs import configure_logging
from crm.db import create_session_factory, server_engine
from crm.events import EventHub
from crm.users.passwords import HashGate
from web.api import (
    account,
    admin,
    analytics,
    campaigns,
    chat,
    content,
    customers,
    health,
    imports,
    inbox,
    operations,
    telegram_webhook,
)
from web.errors import install_error_handlers
from web.inputs import StorableTextGuard
from web.pages import account as account_pages
from web.pages import admin as admin_pages
from web.pages import chat as chat_pages
from web.pages import docs as docs_pages
from web.pages import inbox as inbox_pages
from web.security import SecurityHeaders, install_access_log_filter
from web.state import AppState
from web.templating import STATIC_DIR

if TYPE_CHECKING:
    from scheduler.app import JobRunner

log = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None,
    *,
    bot: BotEngine | None = None,
    db_engine: Engine | None = None,
    session_factory: sessionmaker[Session] | None = None,
    run_scheduler: bool | None = None,
) -> FastAPI:
    """Build the app; parts not given are created at start-up from the settings."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = db_engine or server_engine(settings)
        factory = session_factory or create_session_factory(engine)
        if bot is None:
            from bot.factory import build_engine

            engine_bot = await run_in_threadpool(build_engine, settings)
        else:
            engine_bot = bot
        hub = EventHub(engine)
        await hub.start()
        app.state.careloop = AppState(
            settings,
            engine,
            factory,
            engine_bot,
            hub,
            hash_gate=HashGate(settings.password_hash_concurrency),
        )
        install_access_log_filter()
        weak = weak_secret_reason(settings.secret_key.get_secret_value())
        if weak is not None and settings.env is Environment.development:
            log.warning(
                "config.weak_secret: CARELOOP_SECRET_KEY is weak (%s); fine for development only",
                weak,
            )
        runner: JobRunner | None = None
        if run_scheduler if run_scheduler is not None else settings.scheduler_enabled:
            from scheduler.app import JobRunner

            runner = JobRunner(engine, factory, settings)
            runner.start()
        await _load_response_book(engine_bot, factory)
        telegram = await _start_telegram(
            settings, engine_bot, factory, may_send=_sender_gate(settings, engine, runner)
        )
        app.state.careloop.telegram = telegram
        watcher = asyncio.create_task(watch_models(engine_bot, settings), name="nlu-watch")
        # Versions published by other processes; only with sessions of our own, which a
        # background thread may use (a given factory may be bound to one connection).
        book_watcher = asyncio.create_task(
            book.watch(
                engine_bot, factory, settings.nlu_reload_seconds if session_factory is None else 0
            ),
            name="book-watch",
        )
        log.info("web.ready url=http://%s:%s", settings.host, settings.port)
        try:
            yield
        finally:
            watcher.cancel()
            book_watcher.cancel()
            if telegram is not None:
                await telegram.stop()
            if runner is not None:
                runner.shutdown()
            await hub.stop()
            if db_engine is None:
                engine.dispose()

    app = FastAPI(
        title="careloop",
        version=__version__,
        description="Chat-based customer service with a CRM inside. Public API under /api/v1.",
        lifespan=lifespan,
        docs_url=None,  # served by web.pages.docs from vendored files, not a CDN
        redoc_url=None,
    )
    app.add_middleware(StorableTextGuard)  # (inside SecurityHeaders: its 422s get them too)
    app.add_middleware(SecurityHeaders, hsts=settings.env is Environment.production)
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(chat.router)
    app.include_router(telegram_webhook.router)
    app.include_router(chat_pages.router)
    app.include_router(docs_pages.router)
    app.include_router(account_pages.router)
    app.include_router(account.router)
    app.include_router(admin.router)
    app.include_router(content.router)
    app.include_router(admin_pages.router)
    app.include_router(inbox.router)
    app.include_router(inbox_pages.router)
    app.include_router(analytics.router)
    app.include_router(imports.router)
    app.include_router(customers.router)
    app.include_router(campaigns.router)
    app.include_router(operations.router)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    return app


async def _load_response_book(bot: BotEngine, factory: sessionmaker[Session]) -> None:
    """Answer with the response book published in the admin console, if any (a database
    not migrated yet keeps the file's book)."""
    try:
        await run_in_threadpool(book.reload_with, factory, bot)
    except Exception:
        log.exception("bot.responses.load_failed: answering with the file's response book")


def app_from_environment() -> FastAPI:
    """The app of one worker process of ``careloop serve --workers N`` (uvicorn's factory):
    each builds its own database pool, NLU (with its micro-batcher), event listener and
    scheduler candidate from the environment the parent set."""
    settings = get_settings()
    configure_logging(settings.log_level)
    return create_app(settings)


def _sender_gate(
    settings: Settings, engine: Engine, runner: JobRunner | None
) -> Callable[[], bool]:
    """Whether this process may send Telegram messages from the outbox now.

    Telegram's limits (30 messages a second, one a second per chat) are kept by the one
    sender's limiter, so on PostgreSQL only the scheduler's leader sends: one process at a
    time whatever the number of workers (see ``JobRunner.may_send`` for the hand-over). A
    single process without a scheduler sends itself (``careloop serve --no-scheduler``
    alone, SQLite)."""
    if runner is not None and engine.dialect.name == "postgresql":
        return lambda: runner.may_send
    if settings.workers > 1:
        return lambda: False  # workers started with --no-scheduler: another process sends
    return lambda: True


async def _start_telegram(
    settings: Settings,
    bot: BotEngine,
    factory: sessionmaker[Session],
    *,
    may_send: Callable[[], bool],
) -> TelegramChannel | None:
    """The Telegram channel when a token is set; the web chat never depends on it."""
    if not settings.telegram_enabled:
        log.info("telegram.off: no CARELOOP_TELEGRAM_TOKEN set; the web chat still works")
        return None
    channel = None
    try:
        channel = TelegramChannel(settings, bot, factory, may_send=may_send)
        await channel.start()
    except Exception:
        log.exception("telegram.start_failed: the web chat keeps running without Telegram")
        if channel is not None:
            with contextlib.suppress(Exception):
                await channel.stop()
        return None
    return channel
