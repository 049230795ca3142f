"""Change notifications between processes: what woke up the inbox and chat streams.

A unit of work that stores a message or changes a conversation names *topics*
(``customer:<id>`` for the customer's chat, ``identity:<channel>:<external id>`` for a new
visitor, ``inbox`` for the agents' queue). They are sent when, and only if, it commits:

- PostgreSQL: ``pg_notify`` in the same transaction (delivered at COMMIT, dropped on
  rollback) to every process that LISTENs, so a stream on one worker wakes for a message
  another worker stored;
- SQLite (one process): straight to the :class:`EventHub` s of this process after COMMIT.

Topics are derived from what the session flushes (new or changed messages, conversations,
identities); bulk writes outside the ORM may call :func:`touch`. Streams keep a slow
safety poll for anything no topic names.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import weakref
from collections.abc import AsyncIterator, Iterable
from typing import Any

from sqlalchemy import Engine, bindparam, event, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session, UOWTransaction
from sqlalchemy.types import String

log = logging.getLogger(__name__)

CHANNEL = "careloop_events"
INBOX = "inbox"
_PENDING = "careloop_topics"
_MAX_TOPIC = 200  # NOTIFY payloads stay far below PostgreSQL's 8000-byte limit


def customer_topic(customer_id: int) -> str:
    return f"customer:{customer_id}"


def identity_topic(channel: str, external_id: str) -> str:
    return f"identity:{channel}:{external_id}"


def touch(session: Session, *topics: str) -> None:
    """Announce ``topics`` when this session's transaction commits."""
    session.info.setdefault(_PENDING, set()).update(t[:_MAX_TOPIC] for t in topics)


def _topics_of(objects: Iterable[Any]) -> set[str]:
    from crm.models import ChannelIdentity, Conversation, Message

    topics: set[str] = set()
    for obj in objects:
        if isinstance(obj, Message | Conversation):
            topics.add(INBOX)
            if obj.customer_id is not None:
                topics.add(customer_topic(obj.customer_id))
        elif isinstance(obj, ChannelIdentity):
            topics.add(identity_topic(obj.channel.value, obj.external_id))
            topics.add(customer_topic(obj.customer_id))
    return topics


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _flush: UOWTransaction) -> None:
    topics = _topics_of([*session.new, *session.dirty])
    if topics:
        touch(session, *topics)


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    if session.get_bind().dialect.name != "postgresql":
        return
    if session.new or session.dirty or session.deleted:
        session.flush()  # (commit flushes after this hook; its topics must be in too)
    topics = sorted(session.info.pop(_PENDING, ()))
    if topics:
        session.execute(
            select(func.pg_notify(CHANNEL, func.unnest(bindparam("t", type_=ARRAY(String))))),
            {"t": topics},
        )


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    topics = session.info.pop(_PENDING, None)
    if topics:  # SQLite: this process is the only writer
        for hub in list(_LOCAL_HUBS):
            hub.publish(topics)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


_LOCAL_HUBS: weakref.WeakSet[EventHub] = weakref.WeakSet()


class Subscription:
    """Topics one stream waits for; :meth:`wait` returns when one of them was announced."""

    def __init__(self, hub: EventHub, topics: set[str]) -> None:
        self.hub = hub
        self.topics = topics
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()

    def retarget(self, topics: set[str]) -> None:
        self.hub._unregister(self)
        self.topics = topics
        self.hub._register(self)

    async def wait(self, timeout: float) -> bool:
        """True when woken, False after ``timeout`` seconds of silence."""
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            return False
        finally:
            self._event.clear()
        return True


class EventHub:
    """One per process (per app): hands announced topics to the streams waiting for them.

    On PostgreSQL it LISTENs on its own connection (psycopg 3, autocommit) and reconnects
    after a failure, waking every stream then (it may have missed announcements)."""

    def __init__(self, engine: Engine, *, reconnect_seconds: float = 2.0) -> None:
        self.postgres = engine.dialect.name == "postgresql"
        url = engine.url.set(drivername="postgresql")
        self._conninfo = url.render_as_string(hide_password=False) if self.postgres else ""
        self._reconnect = reconnect_seconds
        self._subs: dict[str, set[Subscription]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = threading.Lock()
        self.listening = asyncio.Event()  # (tests wait for it before producing)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self.postgres:
            self._task = asyncio.create_task(self._listen(), name="events-listen")
        else:
            _LOCAL_HUBS.add(self)
            self.listening.set()

    async def stop(self) -> None:
        _LOCAL_HUBS.discard(self)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    @contextlib.asynccontextmanager
    async def subscribe(self, topics: Iterable[str]) -> AsyncIterator[Subscription]:
        sub = Subscription(self, set(topics))
        self._register(sub)
        try:
            yield sub
        finally:
            self._unregister(sub)

    def publish(self, topics: Iterable[str]) -> None:
        """Wake the streams of ``topics`` (from any thread)."""
        topics = list(topics)
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._dispatch(topics)
        else:
            loop.call_soon_threadsafe(self._dispatch, topics)

    def _register(self, sub: Subscription) -> None:
        with self._lock:
            for topic in sub.topics:
                self._subs.setdefault(topic, set()).add(sub)

    def _unregister(self, sub: Subscription) -> None:
        with self._lock:
            for topic in sub.topics:
                waiting = self._subs.get(topic)
                if waiting is not None:
                    waiting.discard(sub)
                    if not waiting:
                        del self._subs[topic]

    def _dispatch(self, topics: Iterable[str]) -> None:
        with self._lock:
            woken = {sub for topic in topics for sub in self._subs.get(topic, ())}
        for sub in woken:
            sub.notify()

    def _wake_all(self) -> None:
        with self._lock:
            everyone = {sub for subs in self._subs.values() for sub in subs}
        for sub in everyone:
            sub.notify()

    async def _listen(self) -> None:
        import psycopg

        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._conninfo, autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    self._wake_all()  # anything announced while no one listened
                    log.debug("events.listening channel=%s", CHANNEL)
                    async for note in conn.notifies():
                        self._dispatch([note.payload])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database went away: streams fall back to polling
                self.listening.clear()
                log.warning("events.listen_failed: %s; retrying", exc.__class__.__name__)
                await asyncio.sleep(self._reconnect)
