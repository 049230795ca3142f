"""The composition root: the one place that wires careloop's parts into running processes.

Each part has one builder, in the package that owns it: the server's database engine
(``crm.db.server_engine``), the bot engine with its NLU (``bot.factory.build_engine``), the
Telegram channel and its outbox sender (``bot.telegram``: ``TelegramChannel``, which builds
its sender with ``TelegramSender.from_settings``) and the scheduler
(``scheduler.app.JobRunner``). This module puts them together for the processes the command
line starts:

* :func:`web_app`: ``careloop serve`` (the app's lifespan starts the parts in the server's
  event loop; ``--workers N`` builds each worker's app with ``web.app.app_from_environment``);
* :func:`run_bot`: ``careloop bot``, Telegram by long polling without the web server;
* :func:`campaign_sender`: ``careloop campaigns send``, the outbox sender for one run.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.factory import build_engine, watch_models
from bot.telegram.channel import TelegramChannel, make_bot
from bot.telegram.sender import TelegramSender
from careloop.config import Settings
from crm.db import create_session_factory, server_engine
from web.app import create_app


def database(settings: Settings) -> tuple[Engine, sessionmaker[Session]]:
    """A long-running process's engine (pool and timeouts from the settings) and sessions."""
    engine = server_engine(settings)
    return engine, create_session_factory(engine)


def web_app(settings: Settings, *, run_scheduler: bool) -> FastAPI:
    """The web app of one ``careloop serve`` process: chat, inbox, API, the Telegram
    channel (webhook or polling) and, with ``run_scheduler``, the scheduler."""
    return create_app(settings, run_scheduler=run_scheduler)


async def run_bot(settings: Settings, on_ready: Callable[[], None]) -> None:
    """Run the Telegram channel (polling) and its sender until SIGINT or SIGTERM."""
    engine, factory = database(settings)
    try:
        bot_engine = await asyncio.to_thread(build_engine, settings)
        channel = TelegramChannel(settings, bot_engine, factory)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        watcher = asyncio.create_task(watch_models(bot_engine, settings), name="nlu-watch")
        try:
            await channel.start()
            on_ready()
            await stop.wait()
        finally:
            watcher.cancel()
            await channel.stop()
    finally:
        engine.dispose()


@asynccontextmanager
async def campaign_sender(
    settings: Settings, factory: sessionmaker[Session]
) -> AsyncIterator[TelegramSender | None]:
    """The Telegram outbox sender for one ``campaigns send`` run (None without a token)."""
    if not settings.telegram_enabled:
        yield None
        return
    bot = make_bot(settings)
    await bot.initialize()
    try:
        yield TelegramSender.from_settings(bot, factory, settings)
    finally:
        await bot.shutdown()
