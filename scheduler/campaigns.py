"""Campaign schedules in APScheduler's persistent SQLAlchemy job store.

The campaigns table is the source of truth: :func:`sync` derives one job per scheduled
campaign (a date trigger for a one-off run at a time, a cron trigger in the campaign's time
zone for a recurring one) and removes jobs whose campaign is no longer scheduled. A job that
already exists with the same trigger is kept, with its stored next run time, so runs that
fell due while no process was running are noticed at start.

Misfire policy: a run missed by less than ``campaign_misfire_grace_minutes`` runs once at
start (missed runs are coalesced into one); an older missed run is skipped and recorded in
the campaign's audit trail as ``missed``. Each run plans the occurrence of its scheduled fire
time, so running it twice (e.g. on a second process after a failover) plans nobody twice.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from apscheduler.events import EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from careloop.config import Settings
from crm.campaigns import service
from crm.db import lift_timeouts, session_scope, utcnow
from crm.models import Campaign, CampaignStatus, ScheduleKind

log = logging.getLogger(__name__)
JOBSTORE = "campaigns"
JOB_PREFIX = "campaign:"
_context: dict[str, Any] = {}  # the session factory and settings of the leader process


def campaign_trigger(campaign: Campaign) -> BaseTrigger | None:
    """The APScheduler trigger for a scheduled campaign (None: not on a schedule)."""
    if campaign.schedule_kind is ScheduleKind.recurring:
        spec = campaign.schedule
        return CronTrigger.from_crontab(spec["cron"], timezone=spec.get("timezone") or "UTC")
    if campaign.schedule_kind is ScheduleKind.once and campaign.schedule.get("at"):
        return DateTrigger(run_date=dt.datetime.fromisoformat(campaign.schedule["at"]))
    return None


def last_fire_time(
    trigger: BaseTrigger, now: dt.datetime, lookback: dt.timedelta
) -> dt.datetime | None:
    """The trigger's latest fire time at or before ``now`` (within ``lookback``)."""
    previous = None
    fire = trigger.get_next_fire_time(None, now - lookback)
    while fire is not None and fire <= now:
        previous = fire
        fire = trigger.get_next_fire_time(fire, fire + dt.timedelta(microseconds=1))
    return previous


def run_campaign(campaign_id: int) -> dict[str, Any] | None:
    """The job: plan the occurrence that fell due (referenced by name in the job store)."""
    factory: sessionmaker[Session] = _context["factory"]
    settings: Settings = _context["settings"]
    leading: Callable[[], bool] | None = _context.get("leading")
    if leading is not None and not leading():
        log.warning("campaign.run_skipped id=%s reason=not_leader", campaign_id)
        return None
    now = utcnow()
    with session_scope(factory) as session:
        lift_timeouts(session)  # planning a big audience is bulk work
        campaign = session.get(Campaign, campaign_id)
        if campaign is None or campaign.status is not CampaignStatus.scheduled:
            return None
        trigger = campaign_trigger(campaign)
        if trigger is None:
            return None
        grace = dt.timedelta(minutes=settings.campaign_misfire_grace_minutes)
        fire = last_fire_time(trigger, now, grace + dt.timedelta(days=1)) or now
        result = service.run_once(session, campaign, settings, fire_time=fire, now=now)
        log.info(
            "campaign.run id=%s occurrence=%s audience=%d",
            campaign_id,
            result.occurrence_key,
            result.audience,
        )
        return result.as_dict()


def add_jobstore(scheduler: BaseScheduler, engine: Engine) -> None:
    scheduler.add_jobstore(SQLAlchemyJobStore(engine=engine), alias=JOBSTORE)


def sync(
    scheduler: BaseScheduler, factory: sessionmaker[Session], settings: Settings
) -> dict[str, int]:
    """Make the job store match the campaigns table; returns what changed. The campaigns
    are read first and the transaction ended, since the job store writes on its own
    connection (on SQLite a held transaction would lock it out)."""
    wanted: dict[str, BaseTrigger] = {}
    with factory() as session:
        for campaign in session.scalars(
            select(Campaign).where(Campaign.status == CampaignStatus.scheduled)
        ):
            trigger = campaign_trigger(campaign)
            if trigger is not None:
                wanted[f"{JOB_PREFIX}{campaign.id}"] = trigger
        session.rollback()
    existing = {job.id: job for job in scheduler.get_jobs(jobstore=JOBSTORE)}
    changes = {"added": 0, "removed": 0, "kept": 0}
    for job_id in existing:
        if job_id not in wanted:
            scheduler.remove_job(job_id, jobstore=JOBSTORE)
            changes["removed"] += 1
    for job_id, trigger in wanted.items():
        job = existing.get(job_id)
        if job is not None and repr(job.trigger) == repr(trigger):
            changes["kept"] += 1
            continue
        scheduler.add_job(
            "scheduler.campaigns:run_campaign",
            trigger,
            args=(int(job_id.removeprefix(JOB_PREFIX)),),
            id=job_id,
            name=f"campaign {job_id.removeprefix(JOB_PREFIX)}",
            jobstore=JOBSTORE,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=settings.campaign_misfire_grace_minutes * 60,
        )
        changes["added"] += 1
    return changes


def record_missed(factory: sessionmaker[Session], event: JobExecutionEvent) -> None:
    """A run missed by more than the grace time: skipped, and said so in the audit trail."""
    if not str(event.job_id).startswith(JOB_PREFIX):
        return
    campaign_id = int(str(event.job_id).removeprefix(JOB_PREFIX))
    log.warning("campaign.run_missed id=%s due=%s", campaign_id, event.scheduled_run_time)
    with session_scope(factory) as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is not None:
            due = event.scheduled_run_time.isoformat() if event.scheduled_run_time else None
            service.audit(session, campaign, None, "missed", {"due": [None, due]})


def install(
    scheduler: BaseScheduler,
    engine: Engine,
    factory: sessionmaker[Session],
    settings: Settings,
    *,
    leading: Callable[[], bool] | None = None,
) -> None:
    """Called once this process is the leader: the job store, the listener, a first sync.
    (``leading``: asked before each campaign run, whether this process still leads.)"""

    def missed(event: JobExecutionEvent) -> None:
        record_missed(factory, event)

    _context.update(factory=factory, settings=settings, leading=leading, listener=missed)
    add_jobstore(scheduler, engine)
    scheduler.add_listener(missed, EVENT_JOB_MISSED)
    log.info("campaign.schedules %s", sync(scheduler, factory, settings))


def uninstall(scheduler: BaseScheduler) -> None:
    """Called when this process stops leading: the job store leaves this scheduler (its
    jobs stay in the database, for the next leader), and so does the listener."""
    listener = _context.pop("listener", None)
    if listener is not None:
        scheduler.remove_listener(listener)
    with contextlib.suppress(KeyError):
        scheduler.remove_jobstore(JOBSTORE, shutdown=False)  # the engine is shared
