"""APScheduler 3 set-up: one leader runs the jobs; every job gets its own unit of work."""

from __future__ import annotations

import logging
import time
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session, sessionmaker

from careloop.config import Settings
from crm.db import session_scope
from scheduler import campaigns
from scheduler.jobs import JOBS, JobSpec

log = logging.getLogger(__name__)

LEADER_LOCK_KEY = 0x6361726C  # "carl": the PostgreSQL advisory lock id of the scheduler leader


class LeaderLock:
    """Only one process runs the jobs. PostgreSQL: a session advisory lock; SQLite: always."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: Connection | None = None

    @property
    def held(self) -> bool:
        return self._engine.dialect.name != "postgresql" or self._conn is not None

    def try_acquire(self) -> bool:
        if self.held:
            return True
        conn = self._engine.connect()
        got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LEADER_LOCK_KEY}).scalar()
        conn.commit()
        if got:
            self._conn = conn
            return True
        conn.close()
        return False

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LEADER_LOCK_KEY})
                self._conn.commit()
            finally:
                self._conn.close()
                self._conn = None


def run_job(spec: JobSpec, factory: sessionmaker[Session], settings: Settings) -> Any:
    """Run one job in its own transaction; failures are logged and rolled back."""
    started = time.perf_counter()
    try:
        with session_scope(factory) as session:
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
    """Starts the APScheduler jobs once this process holds the leader lock."""

    def __init__(self, engine: Engine, factory: sessionmaker[Session], settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self.factory = factory
        self.lock = LeaderLock(engine)
        self.scheduler = BackgroundScheduler(timezone="UTC")
        self._jobs_added = False

    def start(self) -> None:
        self.scheduler.start()
        if not self._become_leader():
            log.info("scheduler.standby: another process runs the jobs; retrying every 30 s")
            self.scheduler.add_job(
                self._become_leader, "interval", seconds=30, id="scheduler.leader", max_instances=1
            )

    def _become_leader(self) -> bool:
        if self._jobs_added or not self.lock.try_acquire():
            return self._jobs_added
        for spec in JOBS:
            kwargs: dict[str, Any] = dict(spec.trigger_args)
            self.scheduler.add_job(
                run_job,
                spec.trigger,
                args=(spec, self.factory, self.settings),
                id=spec.name,
                name=spec.description,
                max_instances=1,
                coalesce=True,
                replace_existing=True,
                **kwargs,
            )
        campaigns.install(self.scheduler, self.engine, self.factory, self.settings)
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
        self._jobs_added = True
        if self.scheduler.get_job("scheduler.leader"):
            self.scheduler.remove_job("scheduler.leader")
        log.info("scheduler.leader jobs=%s", ",".join(s.name for s in JOBS))
        return True

    def sync_campaigns(self) -> dict[str, int] | None:
        """Campaigns scheduled, edited or paused by any process reach the job store."""
        try:
            return campaigns.sync(self.scheduler, self.factory, self.settings)
        except Exception:
            log.exception("scheduler.campaigns.sync_failed")
            return None

    @property
    def is_leader(self) -> bool:
        return self._jobs_added

    def shutdown(self) -> None:
        self.scheduler.shutdown(wait=False)
        self.lock.release()
