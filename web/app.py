"""The FastAPI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.engine import Engine as BotEngine
from careloop import __version__
from careloop.config import Settings, get_settings
from crm.db import create_db_engine, create_session_factory
from web.api import chat, health
from web.errors import install_error_handlers
from web.pages import chat as chat_pages
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
        app.state.careloop = AppState(settings, engine, factory, engine_bot)
        runner = None
        if run_scheduler if run_scheduler is not None else settings.scheduler_enabled:
            from scheduler.app import JobRunner

            runner = JobRunner(engine, factory, settings)
            runner.start()
        if settings.telegram_token is None:
            log.info("telegram.off: no CARELOOP_TELEGRAM_TOKEN set; the web chat still works")
        log.info("web.ready url=http://%s:%s", settings.host, settings.port)
        try:
            yield
        finally:
            if runner is not None:
                runner.shutdown()
            if db_engine is None:
                engine.dispose()

    app = FastAPI(
        title="careloop",
        version=__version__,
        description="Chat-based customer service with a CRM inside. Public API under /api/v1.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(chat.router)
    app.include_router(chat_pages.router)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    return app
