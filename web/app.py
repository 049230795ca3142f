"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.engine import Engine as BotEngine
from bot.factory import watch_models
from bot.telegram.channel import TelegramChannel
from careloop import __version__
from careloop.config import Environment, Settings, get_settings, weak_secret_reason
from crm.db import create_db_engine, create_session_factory
from crm.users.passwords import HashGate
from web.api import (
    account,
    admin,
    analytics,
    campaigns,
    chat,
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
from web.pages import chat as chat_pages
from web.pages import docs as docs_pages
from web.pages import inbox as inbox_pages
from web.security import SecurityHeaders, install_access_log_filter
from web.state import AppState
from web.templating import STATIC_DIR

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
        engine = db_engine or create_db_engine(
            settings.effective_database_url, echo=settings.database_echo
        )
        factory = session_factory or create_session_factory(engine)
        if bot is None:
            from bot.factory import build_engine

            engine_bot = await run_in_threadpool(build_engine, settings)
        else:
            engine_bot = bot
        app.state.careloop = AppState(
            settings,
            engine,
            factory,
            engine_bot,
            hash_gate=HashGate(settings.password_hash_concurrency),
        )
        install_access_log_filter()
        weak = weak_secret_reason(settings.secret_key.get_secret_value())
        if weak is not None and settings.env is Environment.development:
            log.warning(
                "config.weak_secret: CARELOOP_SECRET_KEY is weak (%s); fine for development only",
                weak,
            )
        runner = None
        if run_scheduler if run_scheduler is not None else settings.scheduler_enabled:
            from scheduler.app import JobRunner

            runner = JobRunner(engine, factory, settings)
            runner.start()
        telegram = await _start_telegram(settings, engine_bot, factory)
        app.state.careloop.telegram = telegram
        watcher = asyncio.create_task(watch_models(engine_bot, settings), name="nlu-watch")
        log.info("web.ready url=http://%s:%s", settings.host, settings.port)
        try:
            yield
        finally:
            watcher.cancel()
            if telegram is not None:
                await telegram.stop()
            if runner is not None:
                runner.shutdown()
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
    app.include_router(inbox.router)
    app.include_router(inbox_pages.router)
    app.include_router(analytics.router)
    app.include_router(imports.router)
    app.include_router(customers.router)
    app.include_router(campaigns.router)
    app.include_router(operations.router)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    return app


async def _start_telegram(
    settings: Settings, bot: BotEngine, factory: sessionmaker[Session]
) -> TelegramChannel | None:
    """The Telegram channel when a token is set; the web chat never depends on it."""
    if not settings.telegram_enabled:
        log.info("telegram.off: no CARELOOP_TELEGRAM_TOKEN set; the web chat still works")
        return None
    channel = None
    try:
        channel = TelegramChannel(settings, bot, factory)
        await channel.start()
    except Exception:
        log.exception("telegram.start_failed: the web chat keeps running without Telegram")
        if channel is not None:
            with contextlib.suppress(Exception):
                await channel.stop()
        return None
    return channel
