"""APScheduler 3 set-up: one leader runs the jobs; every job gets its own unit of work.

Leadership is a PostgreSQL session advisory lock, held by one connection of the leader. That
connection can drop (a server restart, a network cut, ``pg_terminate_backend``) and the lock
with it, while the process goes on; so every job run first asks the server whether the lock
is still held, and a process that lost it stops its jobs and tries to lead again. In the
moment between a lost lock and the check, two processes may run a job at once: each run of
a job takes a transaction advisory lock of its own, so the same job never runs twice at
once, and the messages the jobs write carry unique outbox keys (see
``crm.models.Message.outbox_key``), so nothing is ever sent twice.

The leader also asks every ``LEADER_CHECK_SECONDS`` on its own, so that its Telegram sender
(which sends only while the process leads, see :attr:`JobRunner.may_send`) stops within a
second of a lost lock rather than at the next job run; and a process that has just taken
the lock sends only after ``HANDOVER_SECONDS``, by when a leader that lost it has noticed
and stopped: one sender at a time keeps Telegram's limits for all processes.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import zlib
from collections.abc import Callable
from typing import Any

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from careloop.config import Settings
from crm.db import lift_timeouts, session_scope
from scheduler import campaigns
from scheduler.jobs import JOBS, JobSpec

log = logging.getLogger(__name__)

LEADER_LOCK_KEY = 0x6361726C  # "carl": the PostgreSQL advisory lock id of the scheduler leader
RETRY_SECONDS = 30
LEADER_CHECK_SECONDS = 1.0  # how often the leader asks the server whether it still leads
HANDOVER_SECONDS = 3 * LEADER_CHECK_SECONDS  # a new leader's wait before it sends
LEADER_CHECK_JOB = "scheduler.leader_check"
# A bigint advisory lock shows in pg_locks as classid (high 32 bits), objid (low 32 bits)
# and objsubid 1; asked on the lock's own connection (pg_backend_pid), so a connection that
# was silently replaced does not count.
_HELD = text(
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
    " AND pid = pg_backend_pid() AND classid::bigint = 0 AND objid::bigint = :k"
    " AND objsubid = 1)"
)


class LeaderLock:
    """Only one process runs the jobs. PostgreSQL: a session advisory lock; SQLite: always."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: Connection | None = None
        self._guard = threading.Lock()  # jobs check from several threads; one connection

    @property
    def held(self) -> bool:
        """Whether this process believes it holds the lock (see :meth:`check`)."""
        return self._engine.dialect.name != "postgresql" or self._conn is not None

    def try_acquire(self) -> bool:
        with self._guard:
            if self.held:
                return True
            conn = self._engine.connect()
            try:
                got = conn.execute(
                    text("SELECT pg_try_advisory_lock(:k)"), {"k": LEADER_LOCK_KEY}
                ).scalar()
                conn.commit()  # idle, not idle in a transaction (which times out)
            except BaseException:
                conn.close()
                raise
            if got:
                self._conn = conn
                return True
            conn.close()
            return False

    def check(self) -> bool:
        """Whether the lock is still held, asked of the server. A lost lock (its
        connection dropped) is forgotten, and its connection closed."""
        if self._engine.dialect.name != "postgresql":
            return True
        with self._guard:
            if self._conn is None:
                return False
            try:
                held = bool(self._conn.execute(_HELD, {"k": LEADER_LOCK_KEY}).scalar())
                self._conn.commit()
            except SQLAlchemyError as exc:
                log.warning("scheduler.leader_check_failed error=%s", type(exc).__name__)
                held = False
            if not held:
                self._forget()
            return held

    def release(self) -> None:
        with self._guard:
            if self._conn is not None:
                try:
                    self._conn.execute(
                        text("SELECT pg_advisory_unlock(:k)"), {"k": LEADER_LOCK_KEY}
                    )
                    self._conn.commit()
                except SQLAlchemyError:
                    pass  # the connection is gone, and the lock with it
                finally:
                    self._forget()

    def _forget(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(SQLAlchemyError):
                conn.close()


def job_lock_key(name: str) -> int:
    """The second key (a signed 32-bit number) of a job's transaction advisory lock; the
    first is ``LEADER_LOCK_KEY``."""
    return (zlib.crc32(name.encode()) ^ 0x80000000) - 0x80000000


def _run_alone(session: Session, name: str) -> bool:
    """On PostgreSQL, take the job's transaction advisory lock; False when another process
    is running the job right now (two leaders for a moment)."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(
        session.execute(
            text("SELECT pg_try_advisory_xact_lock(:a, :b)"),
            {"a": LEADER_LOCK_KEY, "b": job_lock_key(name)},
        ).scalar()
    )


def run_job(
    spec: JobSpec,
    factory: sessionmaker[Session],
    settings: Settings,
    leading: Callable[[], bool] | None = None,
) -> Any:
    """Run one job in its own transaction; failures are logged and rolled back. With
    ``leading``, the job runs only while it says this process still leads."""
    if leading is not None and not leading():
        log.warning("scheduler.job.skipped job=%s reason=not_leader", spec.name)
        return None
    started = time.perf_counter()
    try:
        with session_scope(factory) as session:
            if not _run_alone(session, spec.name):
                log.warning("scheduler.job.skipped job=%s reason=running_elsewhere", spec.name)
                return None
            if spec.long_running:
                lift_timeouts(session)
            result = spec.func(session, settings)
    except Exception:
        log.exception("scheduler.job.failed job=%s", spec.name)
        return None
    log.debug(
        "scheduler.job.done job=%s result=%s ms=%.1f",
        spec.name,
        result,
        1000 * (time.perf_counter() - started),
    )
    return result


class JobRunner:
    """Starts the APScheduler jobs once this process holds the leader lock, and stops them
    when it no longer does."""

    def __init__(self, engine: Engine, factory: sessionmaker[Session], settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self.factory = factory
        self.lock = LeaderLock(engine)
        self.scheduler = BackgroundScheduler(timezone="UTC")
        self._jobs_added = False
        self._leading_since: float | None = None  # time.monotonic() when this process led
        self._leadership = threading.RLock()  # becoming leader and stepping down

    def start(self) -> None:
        self.scheduler.start()
        if not self._become_leader():
            log.info("scheduler.standby: another process runs the jobs; retrying every 30 s")
            self._retry_later()

    def _retry_later(self) -> None:
        self.scheduler.add_job(
            self._become_leader,
            "interval",
            seconds=RETRY_SECONDS,
            id="scheduler.leader",
            max_instances=1,
            replace_existing=True,
        )

    def _become_leader(self) -> bool:
        with self._leadership:
            if self._jobs_added:
                return True
            try:
                if not self.lock.try_acquire():
                    return False
            except SQLAlchemyError as exc:  # the database is away: try again later
                log.warning("scheduler.leader_acquire_failed error=%s", type(exc).__name__)
                return False
            for spec in JOBS:
                kwargs: dict[str, Any] = dict(spec.trigger_args)
                self.scheduler.add_job(
                    run_job,
                    spec.trigger,
                    args=(spec, self.factory, self.settings, self.still_leader),
                    id=spec.name,
                    name=spec.description,
                    max_instances=1,
                    coalesce=True,
                    replace_existing=True,
                    **kwargs,
                )
            campaigns.install(
                self.scheduler, self.engine, self.factory, self.settings, leading=self.still_leader
            )
            self.scheduler.add_job(
                self.sync_campaigns,
                "interval",
                seconds=15,
                id="campaigns.sync",
                name="derive campaign schedules from the campaigns table",
                max_instances=1,
                coalesce=True,
                replace_existing=True,
            )
            self.scheduler.add_job(
                self.still_leader,
                "interval",
                seconds=LEADER_CHECK_SECONDS,
                id=LEADER_CHECK_JOB,
                name="ask the server whether this process still holds the leader lock",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,  # late on a busy machine is still worth checking
                replace_existing=True,
            )
            self._leading_since = time.monotonic()
            self._jobs_added = True
            with contextlib.suppress(JobLookupError):
                self.scheduler.remove_job("scheduler.leader")
            log.info("scheduler.leader jobs=%s", ",".join(s.name for s in JOBS))
            return True

    def still_leader(self) -> bool:
        """Asked before every job run and every ``LEADER_CHECK_SECONDS``: whether this
        process still holds the leader lock. One that lost it stops its jobs and its sender
        at once and tries to lead again (now, then every 30 s): another process may have
        taken over meanwhile."""
        if not self._jobs_added:
            return False
        if self.lock.check():
            return True
        self._step_down()
        return self._become_leader()

    def _step_down(self) -> None:
        with self._leadership:
            if not self._jobs_added:
                return
            self._jobs_added = False  # first: the sender asks this before every message
            self._leading_since = None
            for job_id in [spec.name for spec in JOBS] + ["campaigns.sync", LEADER_CHECK_JOB]:
                with contextlib.suppress(JobLookupError):
                    self.scheduler.remove_job(job_id)
            campaigns.uninstall(self.scheduler)
            self._retry_later()
        log.error("scheduler.leader_lost: the leader lock is gone; jobs stopped, retrying")

    def sync_campaigns(self) -> dict[str, int] | None:
        """Campaigns scheduled, edited or paused by any process reach the job store."""
        if not self.still_leader():
            return None
        try:
            return campaigns.sync(self.scheduler, self.factory, self.settings)
        except Exception:
            log.exception("scheduler.campaigns.sync_failed")
            return None

    @property
    def is_leader(self) -> bool:
        return self._jobs_added

    @property
    def may_send(self) -> bool:
        """Whether this process may send Telegram messages now: it leads, and has led for
        ``HANDOVER_SECONDS``, so a process that lost the lock has noticed by now (it checks
        every ``LEADER_CHECK_SECONDS``) and stopped sending. Asked before every message."""
        since = self._leading_since
        return (
            self._jobs_added and since is not None and time.monotonic() - since >= HANDOVER_SECONDS
        )

    def shutdown(self) -> None:
        self.scheduler.shutdown(wait=False)
        self.lock.release()
