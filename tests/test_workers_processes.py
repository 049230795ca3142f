"""Two real ``careloop serve`` processes on one PostgreSQL database send a campaign to
1,000 customers through the fake Telegram Bot API (real HTTP, Telegram's flood limits).

What must hold across processes:

- Telegram's limits hold for both together: no 429 answered, at most 30 messages in any
  one-second window, at most one a second per chat;
- each customer gets the message exactly once (or its delivery is recorded ``unconfirmed``
  and it was not sent twice);
- each scheduled job ran once: the campaign's occurrence was planned by one process, once;
- when the sending process loses its leader lock (its lock connection is terminated), it
  stops sending at once and hands its claims back; another process takes over and finishes
  with no message sent twice;
- both processes stop cleanly on SIGTERM.

Each process is the console script with the environment a deployment would give it; the
test tells them apart by the ``application_name`` of their database connections.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from careloop.config import Settings
from crm.campaigns import service
from crm.db import create_db_engine, create_session_factory, session_scope, utcnow
from crm.models import (
    CampaignAudit,
    CampaignDelivery,
    CampaignRun,
    ChurnRisk,
    DeliveryGroup,
    DeliveryStatus,
    Message,
)
from devtools.fake_telegram import TOKEN, FakeTelegram, FakeTelegramServer
from scheduler.app import LEADER_LOCK_KEY
from tests.conftest import migrated_postgres_database
from tests.factories import campaign_fields, make_customer, make_telegram_identity

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

N = 1000
CHAT_BASE = 810_000
ROOT = Path(__file__).resolve().parents[1]
# The leader lock's holder on this test's database (other databases on the server may have
# processes of their own holding the same key).
LOCK_HOLDER = text(
    "SELECT a.application_name, l.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
    " WHERE l.locktype = 'advisory' AND l.granted AND l.classid::bigint = 0"
    " AND l.objid::bigint = :k AND l.objsubid = 1"
    " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(what: str, predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting ({timeout:.0f} s) until {what}")
        time.sleep(0.1)


class Serve:
    """One ``careloop serve`` process (scheduler on, Telegram by webhook) and its log."""

    def __init__(self, name: str, db_url: str, api_url: str, tmp: Path) -> None:
        self.name = name
        self.port = _free_port()
        self.log = tmp / f"{name}.log"
        url = make_url(db_url).update_query_dict({"application_name": name})
        env = {k: v for k, v in os.environ.items() if not k.startswith("CARELOOP_")}
        env |= {
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
            "CARELOOP_ENV": "test",
            "CARELOOP_DATABASE_URL": url.render_as_string(hide_password=False),
            "CARELOOP_DATA_DIR": str(tmp / name),
            "CARELOOP_LOG_LEVEL": "INFO",
            "CARELOOP_NLU_RELOAD_SECONDS": "0",
            "CARELOOP_SCHEDULER_ENABLED": "true",
            "CARELOOP_TELEGRAM_TOKEN": TOKEN,
            "CARELOOP_TELEGRAM_API_URL": api_url,
            "CARELOOP_TELEGRAM_MODE": "webhook",
            "CARELOOP_TELEGRAM_WEBHOOK_SECRET": "s3cret-webhook_token",
            "CARELOOP_CAMPAIGN_QUIET_HOURS": "",
        }
        careloop = Path(sys.executable).parent / "careloop"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [str(careloop), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited early:\n{self.output()[-3000:]}")
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2).is_success
        except httpx.HTTPError:
            return False

    def stop_cleanly(self) -> None:
        """SIGTERM, as a service manager stops it: the app shuts down (the sender hands
        its claims back, the scheduler lets go of the lock) and the process ends. uvicorn
        raises the signal again once it is done, so the status is "ended by SIGTERM"."""
        self.proc.send_signal(signal.SIGTERM)
        status = self.proc.wait(timeout=60)
        output = self.output()
        assert status in (0, -signal.SIGTERM), f"{self.name} ended with {status}: {output[-3000:]}"
        assert "Application shutdown complete" in output, output[-3000:]
        assert "Traceback" not in output, output

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh database migrated to head (dropped afterwards, with whatever still uses it)."""
    with migrated_postgres_database() as url:
        yield url


@pytest.fixture
def db(pg_url: str) -> Iterator[Engine]:
    engine = create_db_engine(pg_url)
    yield engine
    engine.dispose()


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegramServer() as server:
        yield server


@pytest.fixture
def servers(pg_url: str, fake: FakeTelegram, tmp_path: Path) -> Iterator[dict[str, Serve]]:
    """Two processes on the database, both answering; none is left behind, whatever
    happens in the test."""
    started: dict[str, Serve] = {}
    try:
        for name in ("careloop-a", "careloop-b"):
            started[name] = Serve(name, pg_url, fake.api_url, tmp_path)
        _wait("both processes answer", lambda: all(s.ready() for s in started.values()), 600)
        yield started
    finally:
        for process in started.values():
            process.kill()


def _seed_campaign(factory: sessionmaker[Session], settings: Settings) -> int:
    """1,000 reachable, consenting customers and a one-off campaign due in a moment, which
    the scheduler's leader picks up from the campaigns table."""
    with session_scope(factory) as session:
        for i in range(N):
            customer = make_customer(session, churn_risk=ChurnRisk.high, timezone="UTC")
            make_telegram_identity(session, customer, CHAT_BASE + i)
        at = (utcnow() + dt.timedelta(seconds=2)).isoformat()
        campaign = service.create_campaign(
            session, campaign_fields(control_percent=0, schedule={"at": at}), None
        )
        assert service.activate(session, campaign, None, settings) is None  # scheduled
        return campaign.id


def _outcomes(factory: sessionmaker[Session], campaign_id: int) -> Counter[DeliveryStatus]:
    with session_scope(factory) as session:
        rows = session.execute(
            select(Message.delivery_status, func.count())
            .join(CampaignDelivery, CampaignDelivery.message_id == Message.id)
            .where(CampaignDelivery.campaign_id == campaign_id)
            .group_by(Message.delivery_status)
        ).all()
    return Counter({status: n for status, n in rows if status is not None})


def _finished(factory: sessionmaker[Session], campaign_id: int) -> bool:
    states = _outcomes(factory, campaign_id)
    return states[DeliveryStatus.sent] + states[DeliveryStatus.unconfirmed] == N


def _leader(db: Engine) -> tuple[str, int] | None:
    with db.connect() as conn:
        row = conn.execute(LOCK_HOLDER, {"k": LEADER_LOCK_KEY}).first()
    return None if row is None else (str(row[0]), int(row[1]))


def _leader_name(db: Engine) -> str | None:
    holder = _leader(db)
    return None if holder is None else holder[0]


def _campaign_messages(fake: FakeTelegram) -> list[Any]:
    return [s for s in fake.sent if CHAT_BASE <= int(s.chat_id) < CHAT_BASE + N]


def _check_telegram_limits(fake: FakeTelegram) -> None:
    """No 429, at most 30 messages in any second, at most one a second per chat."""
    assert fake.too_many == 0, "Telegram answered 429"
    times = sorted(s.at for s in fake.sent)
    first, busiest = 0, 0
    for last, at in enumerate(times):  # messages in the window (at - 1 s, at]
        while times[first] <= at - 1.0:
            first += 1
        busiest = max(busiest, last - first + 1)
    assert busiest <= 30, f"{busiest} messages in one second"
    print(f"{len(times)} messages in {times[-1] - times[0]:.1f} s, at most {busiest} in a second")
    per_chat: defaultdict[str, list[float]] = defaultdict(list)
    for s in fake.sent:
        per_chat[s.chat_id].append(s.at)
    for chat, sent_at in per_chat.items():
        gaps = [b - a for a, b in itertools.pairwise(sent_at)]
        assert all(gap >= 1.0 for gap in gaps), f"chat {chat} got two messages within 1 s"


def _check_each_customer_once(
    fake: FakeTelegram, factory: sessionmaker[Session], campaign_id: int
) -> tuple[int, int]:
    """Each customer received the message at most once, and every message is sent or
    recorded unconfirmed; returns (sent, unconfirmed)."""
    received = Counter(s.chat_id for s in _campaign_messages(fake))
    assert max(received.values()) == 1, "a customer got the message twice"
    states = _outcomes(factory, campaign_id)
    assert set(states) <= {DeliveryStatus.sent, DeliveryStatus.unconfirmed}, states
    sent, unconfirmed = states[DeliveryStatus.sent], states[DeliveryStatus.unconfirmed]
    assert sent + unconfirmed == N
    assert sent <= len(received) <= N  # a received one is sent, or its answer was lost
    return sent, unconfirmed


def _check_planned_once(
    factory: sessionmaker[Session], campaign_id: int, servers: dict[str, Serve]
) -> None:
    """The campaign's scheduled run happened once, in one process."""
    with session_scope(factory) as session:
        runs = session.scalars(
            select(CampaignRun.occurrence_key).where(CampaignRun.campaign_id == campaign_id)
        ).all()
        audited = session.scalar(
            select(func.count()).where(
                CampaignAudit.campaign_id == campaign_id, CampaignAudit.action == "run"
            )
        )
        deliveries = session.execute(
            select(func.count(), func.count(func.distinct(CampaignDelivery.message_id))).where(
                CampaignDelivery.campaign_id == campaign_id,
                CampaignDelivery.group == DeliveryGroup.treatment,
            )
        ).one()
    assert list(runs) == ["once"] and audited == 1
    assert tuple(deliveries) == (N, N), "one message for each customer"
    ran = [s.output().count(f"campaign.run id={campaign_id} ") for s in servers.values()]
    assert sorted(ran) == [0, 1], f"the campaign job ran in one process, once: {ran}"


def _campaign_under_way(
    db: Engine, pg_url: str, tmp_path: Path
) -> tuple[sessionmaker[Session], int]:
    """Once one process leads: the campaign seeded and scheduled; a session factory and
    its id."""
    settings = Settings(env="test", data_dir=tmp_path, database_url=pg_url)
    factory = create_session_factory(db)
    _wait("one process leads", lambda: _leader(db) is not None, 120)
    return factory, _seed_campaign(factory, settings)


def test_two_processes_send_a_campaign_within_telegrams_limits_each_message_once(
    servers: dict[str, Serve],
    fake: FakeTelegram,
    db: Engine,
    pg_url: str,
    tmp_path: Path,
) -> None:
    factory, campaign_id = _campaign_under_way(db, pg_url, tmp_path)
    _wait("every delivery is sent or unconfirmed", lambda: _finished(factory, campaign_id), 600)

    _check_telegram_limits(fake)
    sent, unconfirmed = _check_each_customer_once(fake, factory, campaign_id)
    print(f"sent {sent}, unconfirmed {unconfirmed}")
    _check_planned_once(factory, campaign_id, servers)
    assert _leader_name(db) in servers
    senders = [s.name for s in servers.values() if "telegram.sender.sending" in s.output()]
    assert len(senders) == 1, f"one process sent: {senders}"
    for process in servers.values():
        process.stop_cleanly()


class LockTaker:
    """The test's own connection, waiting for the leader lock so that it takes it the
    moment the leader's lock connection dies (before either process can)."""

    def __init__(self, db: Engine) -> None:
        self.conn = db.connect()
        self.pid = int(self.conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
        self.conn.commit()
        self.holding = threading.Event()
        self.thread = threading.Thread(target=self._take, daemon=True)

    def _take(self) -> None:
        self.conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": LEADER_LOCK_KEY})
        self.conn.commit()
        self.holding.set()

    def release(self, db: Engine) -> None:
        """End the session, and its advisory lock with it (waiting or held)."""
        if not self.holding.is_set():
            with db.connect() as conn:
                conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": self.pid})
                conn.commit()
        self.thread.join(timeout=30)
        self.conn.invalidate()  # closed, not handed back to the pool still holding the lock
        self.conn.close()


def test_a_leader_that_loses_its_lock_stops_sending_at_once_and_another_takes_over(
    servers: dict[str, Serve],
    fake: FakeTelegram,
    db: Engine,
    pg_url: str,
    tmp_path: Path,
) -> None:
    factory, campaign_id = _campaign_under_way(db, pg_url, tmp_path)
    _wait("a quarter of the campaign is out", lambda: len(fake.sent) >= N // 4, 600)
    holder = _leader(db)
    assert holder is not None
    name, lock_pid = holder
    old, other = servers[name], next(s for s in servers.values() if s.name != name)

    taker = LockTaker(db)
    try:
        taker.thread.start()

        def taker_waits() -> bool:
            with db.connect() as conn:
                return bool(
                    conn.scalar(
                        text(
                            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = :p AND NOT granted)"
                        ),
                        {"p": taker.pid},
                    )
                )

        _wait("the test's connection waits for the lock", taker_waits, 30)
        with db.connect() as conn:  # the leader's lock connection dies
            assert conn.scalar(text("SELECT pg_terminate_backend(:p)"), {"p": lock_pid})
            conn.commit()
        cut = time.monotonic()
        assert taker.holding.wait(30), "the lock went to the waiting connection"

        def stopped() -> bool:
            states = _outcomes(factory, campaign_id)
            return "scheduler.leader_lost" in old.output() and not states[DeliveryStatus.sending]

        _wait("the old leader noticed and handed its claims back", stopped, 60)
        stopped_at = time.monotonic()
        after_cut = sum(1 for s in fake.sent if s.at > cut)
        time.sleep(2.0)  # a spell with no leader: nothing may be sent in it
        old.kill()  # the old leader goes for good: the other process must take over
        released_at = time.monotonic()
    finally:
        taker.release(db)
    quiet = [s for s in fake.sent if stopped_at < s.at < released_at]
    assert quiet == [], "a message was sent while no process held the lock"

    _wait("the other process leads", lambda: _leader_name(db) == other.name, 120)
    _wait("every delivery is sent or unconfirmed", lambda: _finished(factory, campaign_id), 600)
    _check_telegram_limits(fake)
    sent, unconfirmed = _check_each_customer_once(fake, factory, campaign_id)
    # The old leader stopped before it was killed: nothing of it was left in doubt.
    assert (sent, unconfirmed) == (N, 0)
    assert "telegram.sender.sending" in other.output()
    _check_planned_once(factory, campaign_id, servers)
    print(
        f"messages sent after the lock connection was cut, before the sender stopped: {after_cut}"
    )
    other.stop_cleanly()
