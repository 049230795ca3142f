"""The FastAPI application factory: the web layer of a ``careloop serve`` process, whose
parts (the bot engine, the Telegram channel, the scheduler) the composition root
(``app.compose``) builds and starts."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.engine import Engine as BotEngine
from bot.factory import serving
from bot.telegram.channel import TelegramChannel
from careloop import __version__
from careloop.config import Environment, Settings, get_settings, weak_secret_reason
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

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Parts:
    """What the composition root (``app.compose``) built and started for this process: the
    bot engine and, when configured, the Telegram channel (the scheduler runs beside)."""

    bot: BotEngine
    telegram: TelegramChannel | None = None


# The root's parts for one app, given its database engine and sessions; entered when the
# app starts and left when it stops.
PartsFactory = Callable[[Engine, sessionmaker[Session]], AbstractAsyncContextManager[Parts]]


def create_app(
    settings: Settings | None = None,
    *,
    bot: BotEngine | None = None,
    db_engine: Engine | None = None,
    session_factory: sessionmaker[Session] | None = None,
    run_scheduler: bool | None = None,
    parts: PartsFactory | None = None,
) -> FastAPI:
    """Build the web app: chat, inbox, admin, API and pages.

    The process's parts come from the composition root (``parts``, see
    :func:`app.compose.web_app`); without it the app serves with the given ``bot`` alone
    (tests, tools), with no Telegram and no scheduler (``run_scheduler`` may only say so).
    The database engine and sessions not given are made from the settings."""
    settings = settings or get_settings()
    if run_scheduler and parts is None:
        raise ValueError("the scheduler is one of the parts app.compose.web_app starts")
    if parts is None:
        parts = _given(settings, bot, watch_book=session_factory is None)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = db_engine or server_engine(settings)
        factory = session_factory or create_session_factory(engine)
        hub = EventHub(engine)
        await hub.start()
        try:
            async with parts(engine, factory) as running:
                app.state.careloop = AppState(
                    settings,
                    engine,
                    factory,
                    running.bot,
                    hub,
                    telegram=running.telegram,
                    hash_gate=HashGate(settings.password_hash_concurrency),
                )
                install_access_log_filter()
                weak = weak_secret_reason(settings.secret_key.get_secret_value())
                if weak is not None and settings.env is Environment.development:
                    log.warning(
                        "config.weak_secret: CARELOOP_SECRET_KEY is weak (%s); "
                        "fine for development only",
                        weak,
                    )
                log.info("web.ready url=http://%s:%s", settings.host, settings.port)
                yield
        finally:
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


def _given(settings: Settings, bot: BotEngine | None, *, watch_book: bool) -> PartsFactory:
    """The parts of an app built without the composition root: the given bot at work."""

    @asynccontextmanager
    async def parts(engine: Engine, factory: sessionmaker[Session]) -> AsyncIterator[Parts]:
        if bot is None:
            raise ValueError("create_app needs a bot engine, or the parts of app.compose")
        # Versions published by other processes; only with sessions of our own, which a
        # background thread may use (a given factory may be bound to one connection).
        async with serving(bot, settings, factory, watch_book=watch_book):
            yield Parts(bot)

    return parts
