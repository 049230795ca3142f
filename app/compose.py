"""The composition root: the one place that builds careloop's parts and wires them into
running processes.

Each part has one builder, in the package that owns it: the server's database engine
(``crm.db.server_engine``), the bot engine with its NLU (``bot.factory.build_engine``), the
Telegram channel and its outbox sender (``bot.telegram``: ``TelegramChannel``, which builds
its sender with ``TelegramSender.from_settings``) and the scheduler
(``scheduler.app.JobRunner``). This module calls them, once per process, for the processes
the command line starts:

* :func:`web_app`: ``careloop serve`` (the parts start in the server's event loop, in the
  app's lifespan); :func:`app_from_environment` is the same app for each worker of
  ``--workers N`` (uvicorn's factory);
* :func:`run_bot`: ``careloop bot``, Telegram by long polling without the web server;
* :func:`campaign_sender`: ``careloop campaigns send``, the outbox sender for one run.

Tests build apps the same way (:func:`web_app` with their own engine and sessions), or
``web.app.create_app`` with a bot engine alone when they need no Telegram and no scheduler.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from threadpoolctl import threadpool_limits

from bot.engine import Engine as BotEngine
from bot.factory import build_engine, serving, watch_models
from bot.telegram.channel import TelegramChannel, make_bot
from bot.telegram.sender import TelegramSender
from careloop.config import Settings, get_settings
from careloop.logs import configure_logging
from crm.db import create_session_factory, server_engine
from nlp.encoder import use_batch_threads
from scheduler.app import JobRunner
from web.app import Parts, create_app

log = logging.getLogger(__name__)


def database(settings: Settings) -> tuple[Engine, sessionmaker[Session]]:
    """A long-running process's engine (pool and timeouts from the settings) and sessions."""
    engine = server_engine(settings)
    return engine, create_session_factory(engine)


def web_app(
    settings: Settings,
    *,
    run_scheduler: bool | None = None,
    bot: BotEngine | None = None,
    db_engine: Engine | None = None,
    session_factory: sessionmaker[Session] | None = None,
) -> FastAPI:
    """The web app of one ``careloop serve`` process: chat, inbox, API, the Telegram
    channel (webhook or polling) and, with ``run_scheduler`` (default: the settings), the
    scheduler. A given ``bot``, database engine or sessions are used instead of new ones
    (tests); the database engine not given is made by the app from the settings."""

    @asynccontextmanager
    async def parts(engine: Engine, factory: sessionmaker[Session]) -> AsyncIterator[Parts]:
        async with serve_parts(
            settings,
            engine,
            factory,
            bot=bot,
            run_scheduler=run_scheduler,
            watch_book=session_factory is None,
        ) as built:
            yield built

    return create_app(settings, db_engine=db_engine, session_factory=session_factory, parts=parts)


def app_from_environment() -> FastAPI:
    """The app of one worker process of ``careloop serve --workers N`` (uvicorn's factory):
    each builds its own database pool, NLU (with its micro-batcher), event listener and
    scheduler candidate from the environment the parent set."""
    settings = get_settings()
    configure_logging(settings.log_level)
    return web_app(settings)


@asynccontextmanager
async def serve_parts(
    settings: Settings,
    engine: Engine,
    factory: sessionmaker[Session],
    *,
    bot: BotEngine | None = None,
    run_scheduler: bool | None = None,
    watch_book: bool = True,
) -> AsyncIterator[Parts]:
    """Build and start the parts of a ``serve`` process, in order: the bot engine (its NLU
    loads off the event loop), the scheduler, the response book and the watchers, then the
    Telegram channel; they stop in the reverse order."""
    engine_bot = bot if bot is not None else await asyncio.to_thread(build_engine, settings)
    limit_threads(settings)
    runner: JobRunner | None = None
    if run_scheduler if run_scheduler is not None else settings.scheduler_enabled:
        runner = JobRunner(engine, factory, settings)
        runner.start()
    try:
        with long_lived_heap():
            async with serving(engine_bot, settings, factory, watch_book=watch_book):
                telegram = await start_telegram(
                    settings, engine_bot, factory, may_send=sender_gate(settings, engine, runner)
                )
                try:
                    yield Parts(engine_bot, telegram)
                finally:
                    if telegram is not None:
                        await telegram.stop()
    finally:
        if runner is not None:
            runner.shutdown()


@contextlib.contextmanager
def long_lived_heap() -> Iterator[None]:
    """Keep what start-up made (the models, the libraries: about 630,000 objects) out of
    the garbage collector's full passes while the process serves; they rejoin the oldest
    generation when it stops.

    A full pass walks every tracked object with the GIL held, so no request moves meanwhile:
    305-311 ms in a process with the app's modules and models loaded (628,696 objects), 0.0
    ms after ``gc.freeze()`` (same run). Python runs one when the objects promoted since the
    last reach a quarter of the old generation. ``careloop serve`` under 32 visitors for 40 s
    (``bench.chat_throughput``'s load, two runs back to back): one full pass of 387 ms
    without, two of 10.6 and 4.4 ms with. Young objects are collected as before."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def limit_threads(settings: Settings) -> None:
    """Cap the BLAS libraries loaded so far (NumPy's and SciPy's OpenBLAS) at
    ``settings.blas_threads`` threads for the rest of this process (0: leave them be), and
    encode batches of several messages with ``settings.encoder_batch_threads`` PyTorch
    threads (see :func:`nlp.encoder.use_batch_threads`).

    A serving process multiplies small matrices per message (the heads, the out-of-scope
    detector), where a second BLAS thread saves nothing, and OpenBLAS's idle threads spin
    on a core the web requests and the encoder need. Measured with ``bench.chat_throughput
    --levels 32 --seconds 10`` (SQLite, one process, 2 cores shared with other work, load
    2.7-4.1, three interleaved rounds): the server's CPU time per message 18.1-18.5 ms with
    the default (2 threads) against 12.4-13.1 ms with 1
    (``bench/results/2026-12-05-chat-blas.md``). Called once the models are loaded, so that
    SciPy's copy is among the libraries capped; PyTorch's threads are not touched.

    threadpoolctl lets one thread at a time set OpenBLAS's process-wide limit (the first
    to set it, while alive); in ``serve`` that is the event loop's, which calls this."""
    if settings.blas_threads:
        threadpool_limits(limits=settings.blas_threads, user_api="blas")
    use_batch_threads(settings.encoder_batch_threads)


def sender_gate(settings: Settings, engine: Engine, runner: JobRunner | None) -> Callable[[], bool]:
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


def telegram_channel(
    settings: Settings,
    bot: BotEngine,
    factory: sessionmaker[Session],
    *,
    may_send: Callable[[], bool] | None = None,
) -> TelegramChannel:
    """The process's one Telegram channel, with its one outbox sender."""
    return TelegramChannel(settings, bot, factory, may_send=may_send)


async def start_telegram(
    settings: Settings,
    bot: BotEngine,
    factory: sessionmaker[Session],
    *,
    may_send: Callable[[], bool],
) -> TelegramChannel | None:
    """The Telegram channel, started, when a token is set; the web chat never depends on
    it (a channel that cannot start is logged and left out)."""
    if not settings.telegram_enabled:
        log.info("telegram.off: no CARELOOP_TELEGRAM_TOKEN set; the web chat still works")
        return None
    channel = None
    try:
        channel = telegram_channel(settings, bot, factory, may_send=may_send)
        await channel.start()
    except Exception:
        log.exception("telegram.start_failed: the web chat keeps running without Telegram")
        if channel is not None:
            with contextlib.suppress(Exception):
                await channel.stop()
        return None
    return channel


async def run_bot(settings: Settings, on_ready: Callable[[], None]) -> None:
    """Run the Telegram channel (polling) and its sender until SIGINT or SIGTERM."""
    engine, factory = database(settings)
    try:
        bot_engine = await asyncio.to_thread(build_engine, settings)
        limit_threads(settings)
        channel = telegram_channel(settings, bot_engine, factory)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        watcher = asyncio.create_task(watch_models(bot_engine, settings), name="nlu-watch")
        try:
            with long_lived_heap():
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
    """The Telegram outbox sender for one ``campaigns send`` run (None without a token):
    no channel (nothing comes in), only the sender, on a bare bot."""
    if not settings.telegram_enabled:
        yield None
        return
    bot = make_bot(settings)
    await bot.initialize()
    try:
        yield TelegramSender.from_settings(bot, factory, settings)
    finally:
        await bot.shutdown()
