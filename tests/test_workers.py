"""Many processes: `serve --workers`, change notifications between app instances, one
Telegram sender for all of them, and SQLite's queued writers.

"Another process" is played by a second app (or engine) with its own connection pool on
the same database: on PostgreSQL they meet only through the database, as two processes do.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine, event, func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from threadpoolctl import threadpool_info, threadpool_limits
from typer.testing import CliRunner

from app.cli import app as cli
from app.compose import web_app
from bot.engine import Engine as BotEngine
from bot.telegram.channel import make_bot
from bot.telegram.sender import TelegramSender
from careloop.config import Settings, TelegramMode, get_settings
from crm import events
from crm.conversations.service import add_message, open_conversation
from crm.db import Base, WriteQueue, create_db_engine, create_session_factory, session_scope
from crm.models import DeliveryStatus, Direction, Message, Sender
from devtools.fake_telegram import TOKEN, FakeTelegram, FakeTelegramServer
from tests.factories import make_customer, make_telegram_identity
from web.api import chat
from web.app import create_app

T = TypeVar("T")

runner = CliRunner()


# -- serve ---------------------------------------------------------------------------------


@pytest.fixture
def clean_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("CARELOOP_DATA_DIR", str(tmp_path))
    for name in ("CARELOOP_TELEGRAM_TOKEN", "CARELOOP_TELEGRAM_MODE", "CARELOOP_WORKERS"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_serve_refuses_several_workers_on_sqlite(
    clean_settings: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CARELOOP_DATABASE_URL", f"sqlite:///{tmp_path / 'one.db'}")
    result = runner.invoke(cli, ["serve", "--workers", "2"])
    assert result.exit_code == 1
    assert "--workers 2 needs PostgreSQL" in result.output
    assert "SQLite" in result.output


def test_serve_refuses_workers_that_would_all_poll_telegram(
    clean_settings: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARELOOP_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1/none")
    monkeypatch.setenv("CARELOOP_TELEGRAM_TOKEN", TOKEN)
    monkeypatch.setenv("CARELOOP_TELEGRAM_MODE", "polling")
    result = runner.invoke(cli, ["serve", "--workers", "3"])
    assert result.exit_code == 1
    assert "CARELOOP_TELEGRAM_MODE=webhook" in result.output


def test_serve_help_documents_workers() -> None:
    assert "--workers" in runner.invoke(cli, ["serve", "--help"]).output


def while_serving(
    settings: Settings,
    bot: BotEngine,
    db_engine: Engine,
    factory: sessionmaker[Session],
    probe: Callable[[], T],
) -> T:
    """``probe()``'s answer while a serving app (models loaded, parts started) runs."""
    app = web_app(
        settings, bot=bot, db_engine=db_engine, session_factory=factory, run_scheduler=False
    )

    async def started() -> T:
        async with app.router.lifespan_context(app):
            return probe()

    return asyncio.run(started())


@pytest.mark.parametrize("blas_threads", [1, 0])
def test_a_serving_app_caps_the_blas_threads_once_its_models_are_loaded(
    blas_threads: int,
    settings: Settings,
    bot: BotEngine,
    db_engine: Engine,
    live_session_factory: sessionmaker[Session],
) -> None:
    def blas() -> set[int]:
        return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}

    serving = settings.model_copy(update={"blas_threads": blas_threads})
    # In this thread: threadpoolctl lets only one living thread set OpenBLAS's limits, and
    # the tests' thread may have set them already (scoring does).
    with threadpool_limits(limits=2, user_api="blas"):  # (restored for the other tests)
        assert blas() == {2}
        started = while_serving(serving, bot, db_engine, live_session_factory, blas)
        assert started == ({1} if blas_threads else {2})


@pytest.mark.parametrize("batch_threads", [1, 0])
def test_a_serving_app_encodes_batches_with_its_set_threads(
    batch_threads: int,
    monkeypatch: pytest.MonkeyPatch,
    settings: Settings,
    bot: BotEngine,
    db_engine: Engine,
    live_session_factory: sessionmaker[Session],
) -> None:
    import torch
    from sentence_transformers import SentenceTransformer

    seen: list[int] = []  # PyTorch's threads where and when the model runs
    model_encode = SentenceTransformer.encode

    def spied(self: SentenceTransformer, *args: Any, **kwargs: Any) -> Any:
        seen.append(torch.get_num_threads())
        return model_encode(self, *args, **kwargs)

    def threads_used() -> list[int]:
        seen.clear()
        bot.nlu.encoder.encode(["where is my order", "hi there"])
        bot.nlu.encoder.encode(["where is my order"])
        return list(seen)

    monkeypatch.setattr(SentenceTransformer, "encode", spied)
    own = torch.get_num_threads()
    serving = settings.model_copy(update={"encoder_batch_threads": batch_threads})
    used = while_serving(serving, bot, db_engine, live_session_factory, threads_used)
    # a lone message keeps every thread; a batch under load leaves the cores to the requests
    assert used == [batch_threads or own, own]


def test_a_serving_app_keeps_its_start_up_objects_out_of_full_collections(
    settings: Settings,
    bot: BotEngine,
    db_engine: Engine,
    live_session_factory: sessionmaker[Session],
) -> None:
    import gc

    loaded = len(gc.get_objects())  # the models and libraries, already in this process
    frozen = while_serving(settings, bot, db_engine, live_session_factory, gc.get_freeze_count)
    assert frozen >= loaded  # not walked by a full collection while the app serves
    assert gc.get_freeze_count() == 0  # and collected as before once it stops


# -- change notifications -------------------------------------------------------------------


@pytest.fixture
def two_engines(db_url: str) -> Iterator[tuple[Engine, Engine]]:
    """Two pools on one database (two processes); what they commit is deleted afterwards."""
    first, second = create_db_engine(db_url), create_db_engine(db_url)
    yield first, second
    with second.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    first.dispose()
    second.dispose()


def test_a_commit_through_another_engine_wakes_the_hub_and_a_rollback_does_not(
    two_engines: tuple[Engine, Engine],
) -> None:
    listening_engine, writing_engine = two_engines
    factory = create_session_factory(writing_engine)

    def write(topic: str, *, commit: bool) -> None:
        with factory() as session:
            events.touch(session, topic)
            session.execute(text("SELECT 1"))
            if commit:
                session.commit()
            else:
                session.rollback()

    async def scenario() -> bool:
        hub = events.EventHub(listening_engine)
        await hub.start()
        try:
            await asyncio.wait_for(hub.listening.wait(), 30)
            async with (
                hub.subscribe({"test:rolled-back"}) as rolled_back,
                hub.subscribe({"test:committed"}) as committed,
            ):
                await asyncio.to_thread(write, "test:rolled-back", commit=False)
                await asyncio.to_thread(write, "test:committed", commit=True)
                assert await committed.wait(60), "the committed topic never arrived"
                # Announcements arrive in commit order: the rolled-back one would be here.
                await asyncio.sleep(0)
                return rolled_back._event.is_set()
        finally:
            await hub.stop()

    assert asyncio.run(scenario()) is False


class ServedApp:
    """An app served by uvicorn on 127.0.0.1 in a thread (a worker process of its own)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the app did not start")
            time.sleep(0.01)
        hub = self.app.state.careloop.events
        while not hub.listening.is_set():  # LISTEN is on: nothing committed is missed
            if time.monotonic() > deadline:
                raise RuntimeError("the app's event hub never listened")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def test_a_visitors_stream_on_one_app_gets_what_another_app_stored(
    two_engines: tuple[Engine, Engine],
    settings: Settings,
    bot: BotEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The stream is opened before the visitor's first message (no identity yet) on one
    app; the message goes to another. No safety poll: only a notification can wake it."""
    monkeypatch.setattr(chat, "SAFETY_POLL_SECONDS", 3600.0)
    streaming_engine, posting_engine = two_engines
    streaming = create_app(
        settings,
        bot=bot,
        db_engine=streaming_engine,
        session_factory=create_session_factory(streaming_engine),
        run_scheduler=False,
    )
    posting = create_app(
        settings,
        bot=bot,
        db_engine=posting_engine,
        session_factory=create_session_factory(posting_engine),
        run_scheduler=False,
    )
    visitor = f"v-{uuid.uuid4().hex[:12]}"
    seen: list[str] = []
    with (
        ServedApp(streaming) as base,
        TestClient(posting) as other,
        httpx.Client(base_url=base, timeout=httpx.Timeout(5.0, read=120.0)) as http,
        http.stream("GET", f"/api/v1/chat/sessions/{visitor}/events") as stream,
    ):
        lines = stream.iter_lines()
        assert next(lines).startswith("retry:")  # subscribed
        reply = other.post(
            "/api/v1/chat/messages",
            json={"session_id": visitor, "text": "what are your opening hours"},
        )
        assert reply.status_code == 200
        wanted = {reply.json()["message"]["id"]} | {r["id"] for r in reply.json()["replies"]}
        for line in lines:
            if line.startswith("id: "):
                seen.append(line[4:])
                if wanted <= {int(i) for i in seen}:
                    break
    assert {int(i) for i in seen} == wanted


# -- Telegram: one sender for every process --------------------------------------------------


def outbox_messages(factory: sessionmaker[Session], chats: int, per_chat: int) -> list[int]:
    ids: list[int] = []
    with session_scope(factory) as session:
        for chat_no in range(chats):
            customer = make_customer(session)
            identity = make_telegram_identity(session, customer, 700_000 + chat_no)
            conversation = open_conversation(
                session,
                identity=identity,
                reply_window=dt.timedelta(days=get_settings().campaign_reply_window_days),
            )
            for turn in range(per_chat):
                message = add_message(
                    session,
                    conversation=conversation,
                    direction=Direction.outbound,
                    sender=Sender.agent,
                    text=f"chat {chat_no} message {turn}",
                )
                ids.append(message.id)
    return ids


def test_only_the_scheduler_leader_sends_and_the_limits_hold_for_all(
    db_url: str,
    two_engines: tuple[Engine, Engine],
    settings: Settings,
    bot: BotEngine,
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("several processes need PostgreSQL; on SQLite the one process sends")
    first_engine, second_engine = two_engines
    with FakeTelegramServer() as fake:
        telegram = settings.model_copy(
            update={
                "telegram_token": SecretStr(TOKEN),
                "telegram_api_url": fake.api_url,
                "telegram_mode": TelegramMode.webhook,
                "telegram_webhook_secret": SecretStr("s3cret-webhook_token"),
                "workers": 2,
            }
        )
        apps = [
            web_app(
                telegram,
                bot=bot,
                db_engine=engine,
                session_factory=create_session_factory(engine),
                run_scheduler=True,
            )
            for engine in (first_engine, second_engine)
        ]
        with TestClient(apps[0]), TestClient(apps[1]):
            gates = [app.state.careloop.telegram.sender.may_send for app in apps]
            # The leader sends once its hand-over wait is over; the standby never does.
            fake.wait_for(lambda: any(gate() for gate in gates), timeout=60)
            leading = [gate() for gate in gates]
            assert sorted(leading) == [False, True], "exactly one process sends"
            standby = apps[leading.index(False)].state.careloop.telegram.sender
            ids = outbox_messages(create_session_factory(second_engine), chats=40, per_chat=3)
            _wait_until_sent(fake, create_session_factory(first_engine), ids)
            assert not standby.may_send()
        assert standby.stats["sent"] == 0, "the standby process sent nothing"
    assert fake.too_many == 0
    texts = Counter(s.text for s in fake.sent if s.text.startswith("chat "))
    assert len(texts) == len(ids) and max(texts.values()) == 1, "each message exactly once"


def _delivery_states(factory: sessionmaker[Session], ids: list[int]) -> Counter[DeliveryStatus]:
    with factory() as session:
        rows = session.execute(
            select(Message.delivery_status, func.count())
            .where(Message.id.in_(ids))
            .group_by(Message.delivery_status)
        ).all()
    return Counter({status: n for status, n in rows if status is not None})


def test_a_sender_that_may_no_longer_send_stops_and_hands_its_claims_back(
    live_session_factory: sessionmaker[Session], settings: Settings
) -> None:
    """The process lost the leadership mid-queue: the messages it had claimed and not sent
    go back to the outbox at once, and are sent once by whoever sends next."""
    gate = {"open": True}
    ids = outbox_messages(live_session_factory, chats=5, per_chat=3)  # 1 s apart per chat

    async def until(predicate: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 60
        while not await asyncio.to_thread(predicate):
            assert time.monotonic() < deadline, "gave up waiting"
            await asyncio.sleep(0.02)

    async def scenario(fake: FakeTelegram, telegram: Settings) -> Counter[DeliveryStatus]:
        bot = make_bot(telegram)
        await bot.initialize()
        sender = TelegramSender.from_settings(
            bot, live_session_factory, telegram, may_send=lambda: gate["open"]
        )
        running = asyncio.create_task(sender.run())
        try:
            await until(lambda: len(fake.sent) >= 5)  # each chat's first message is out
            gate["open"] = False
            await until(
                lambda: DeliveryStatus.sending not in _delivery_states(live_session_factory, ids)
            )
            at_stop = _delivery_states(live_session_factory, ids)
            assert len(fake.sent) == at_stop[DeliveryStatus.sent], "nothing sent unrecorded"
            gate["open"] = True  # (the next leader: here the same sender)
            await until(
                lambda: _delivery_states(live_session_factory, ids)[DeliveryStatus.sent] == len(ids)
            )
            return at_stop
        finally:
            await sender.stop()
            await running
            await bot.shutdown()

    with FakeTelegramServer() as fake:
        telegram = settings.model_copy(
            update={"telegram_token": SecretStr(TOKEN), "telegram_api_url": fake.api_url}
        )
        at_stop = asyncio.run(scenario(fake, telegram))
    assert 0 < at_stop[DeliveryStatus.sent] < len(ids), at_stop
    assert at_stop[DeliveryStatus.pending] == len(ids) - at_stop[DeliveryStatus.sent]
    texts = Counter(s.text for s in fake.sent)
    assert len(texts) == len(ids) and max(texts.values()) == 1, "each message exactly once"
    assert fake.too_many == 0


def _wait_until_sent(fake: FakeTelegram, factory: sessionmaker[Session], ids: list[int]) -> None:
    def all_sent() -> bool:
        with factory() as session:
            done = session.scalar(
                select(func.count())
                .select_from(Message)
                .where(Message.id.in_(ids), Message.delivery_status == DeliveryStatus.sent)
            )
        return done == len(ids)

    fake.wait_for(all_sent, timeout=120)


# -- SQLite: writers queue --------------------------------------------------------------------


def test_sqlite_writers_queue_instead_of_failing(tmp_path: Path) -> None:
    """32 threads writing at once on one SQLite file: every transaction gets its turn."""
    engine = create_db_engine(f"sqlite:///{tmp_path / 'queue.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE hits (thread INTEGER, n INTEGER)"))
    errors: list[Exception] = []

    def writer(thread: int) -> None:
        for _ in range(5):
            try:
                with engine.begin() as conn:
                    total = conn.execute(text("SELECT count(*) FROM hits")).scalar_one()
                    conn.execute(
                        text("INSERT INTO hits VALUES (:t, :n)"), {"t": thread, "n": total}
                    )
            except OperationalError as exc:
                errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with engine.connect() as conn:
        counts = [row[0] for row in conn.execute(text("SELECT n FROM hits ORDER BY n"))]
    engine.dispose()
    assert errors == []
    assert counts == list(range(160)), "one writer at a time: each saw every earlier row"


def test_sqlite_keeps_its_connections_for_the_next_request(tmp_path: Path) -> None:
    """32 threads at a time, again and again: the connections opened for the first wave
    serve every later one (each new SQLite connection costs its PRAGMAs)."""
    engine = create_db_engine(f"sqlite:///{tmp_path / 'pool.db'}", pool_size=4, max_overflow=28)
    opened: list[object] = []
    event.listen(engine, "connect", lambda connection, _record: opened.append(connection))
    barrier = threading.Barrier(32)

    def reader() -> None:
        for _ in range(5):
            with engine.connect() as conn:
                barrier.wait(timeout=30)  # all 32 hold a connection at once
                conn.execute(text("SELECT 1")).scalar_one()

    threads = [threading.Thread(target=reader) for _ in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    engine.dispose()
    assert len(opened) == 32


def test_a_writer_that_waits_too_long_fails_cleanly() -> None:
    queue = WriteQueue(timeout=0.05)
    queue.acquire()
    with pytest.raises(OperationalError, match="no turn to write"):
        queue.acquire()
    queue.release()
    queue.acquire()  # the queue is usable again
    queue.release()


def test_writers_take_turns_in_order_of_arrival() -> None:
    queue = WriteQueue(timeout=30)
    order: list[int] = []
    queue.acquire()
    threads = []
    for i in range(5):

        def take(i: int = i) -> None:
            queue.acquire()
            order.append(i)
            queue.release()

        thread = threading.Thread(target=take)
        thread.start()
        threads.append(thread)
        while queue.queued < i + 1:  # the i-th writer is queued before the next
            time.sleep(0.001)
    queue.release()
    for thread in threads:
        thread.join()
    assert order == [0, 1, 2, 3, 4]
