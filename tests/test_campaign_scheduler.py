"""Campaign schedules: cron in the campaign's time zone across DST, jobs derived from the
campaigns table into the persistent job store, the misfire policy, and one leader."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from careloop.config import Settings
from crm.campaigns import service
from crm.db import create_db_engine, session_scope, utcnow
from crm.models import Campaign, CampaignAudit, CampaignRun, CampaignStatus, ChurnRisk
from scheduler import campaigns
from scheduler.app import LeaderLock
from tests.factories import campaign_fields, make_customer, make_telegram_identity


def _fires(campaign: Campaign, start: dt.datetime, n: int) -> list[dt.datetime]:
    trigger = campaigns.campaign_trigger(campaign)
    assert trigger is not None
    out: list[dt.datetime] = []
    fire = trigger.get_next_fire_time(None, start)
    while fire is not None and len(out) < n:
        out.append(fire.astimezone(dt.UTC))
        fire = trigger.get_next_fire_time(fire, fire + dt.timedelta(seconds=1))
    return out


def test_a_recurring_campaign_fires_at_local_time_across_dst(session: Session) -> None:
    campaign = service.create_campaign(
        session,
        campaign_fields(
            schedule_kind="recurring", schedule={"cron": "0 9 * * *", "timezone": "Europe/Berlin"}
        ),
        None,
    )
    spring = _fires(campaign, dt.datetime(2026, 3, 27, tzinfo=dt.UTC), 4)
    assert [f.hour for f in spring] == [8, 8, 7, 7]  # 09:00 CET, then 09:00 CEST
    autumn = _fires(campaign, dt.datetime(2026, 10, 23, tzinfo=dt.UTC), 4)
    assert [f.hour for f in autumn] == [7, 7, 8, 8]
    trigger = campaigns.campaign_trigger(campaign)
    assert trigger is not None
    now = dt.datetime(2026, 3, 29, 7, 30, tzinfo=dt.UTC)
    last = campaigns.last_fire_time(trigger, now, dt.timedelta(days=2))
    assert last == dt.datetime(2026, 3, 29, 7, 0, tzinfo=dt.UTC)
    assert service.occurrence_key(campaign, last) == "at:2026-03-29T07:00Z"


@pytest.fixture
def store(
    db_engine: Engine, live_session_factory: sessionmaker[Session], settings: Settings
) -> Iterator[BackgroundScheduler]:
    scheduler = BackgroundScheduler(timezone="UTC")
    campaigns.install(scheduler, db_engine, live_session_factory, settings)
    scheduler.start(paused=True)
    try:
        yield scheduler
    finally:
        scheduler.remove_all_jobs(jobstore=campaigns.JOBSTORE)
        scheduler.shutdown(wait=True)


def _scheduled(factory: sessionmaker[Session], settings: Settings, **fields: object) -> int:
    with session_scope(factory) as session:
        customer = make_customer(session, churn_risk=ChurnRisk.high)
        make_telegram_identity(session, customer, 4242 + customer.id)
        campaign = service.create_campaign(session, campaign_fields(**fields), None)
        service.activate(session, campaign, None, settings)
        return campaign.id


def test_jobs_follow_the_campaigns_table(
    store: BackgroundScheduler,
    live_session_factory: sessionmaker[Session],
    settings: Settings,
) -> None:
    cid = _scheduled(
        live_session_factory,
        settings,
        schedule_kind="recurring",
        schedule={"cron": "30 8 * * 1", "timezone": "America/New_York"},
    )
    sync = {"added": 1, "removed": 0, "kept": 0}
    assert campaigns.sync(store, live_session_factory, settings) == sync
    sync = {"added": 0, "removed": 0, "kept": 1}
    assert campaigns.sync(store, live_session_factory, settings) == sync
    job = store.get_job(f"campaign:{cid}", jobstore=campaigns.JOBSTORE)
    assert job is not None and "America/New_York" in repr(job.trigger)
    with session_scope(live_session_factory) as session:
        service.pause(session, session.get_one(Campaign, cid), None)
    assert campaigns.sync(store, live_session_factory, settings)["removed"] == 1
    assert store.get_jobs(jobstore=campaigns.JOBSTORE) == []


def test_a_run_missed_within_the_grace_time_runs_once_and_an_older_one_is_recorded(
    store: BackgroundScheduler,
    live_session_factory: sessionmaker[Session],
    settings: Settings,
) -> None:
    now = utcnow()
    recent = _scheduled(
        live_session_factory,
        settings,
        schedule={"at": (now - dt.timedelta(minutes=10)).isoformat()},
    )
    old = _scheduled(
        live_session_factory,
        settings,
        name="Too late",
        schedule={"at": (now - dt.timedelta(hours=3)).isoformat()},
    )
    campaigns.sync(store, live_session_factory, settings)
    store.resume()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with session_scope(live_session_factory) as session:
            done = session.scalar(select(CampaignRun.id).where(CampaignRun.campaign_id == recent))
            missed = session.scalar(
                select(CampaignAudit.id).where(
                    CampaignAudit.campaign_id == old, CampaignAudit.action == "missed"
                )
            )
        if done and missed:
            break
        time.sleep(0.1)
    with session_scope(live_session_factory) as session:
        runs = session.scalars(select(CampaignRun).where(CampaignRun.campaign_id == recent)).all()
        assert [r.occurrence_key for r in runs] == ["once"] and runs[0].audience_size >= 1
        assert session.get_one(Campaign, recent).status is CampaignStatus.finished
        assert session.scalar(select(CampaignRun.id).where(CampaignRun.campaign_id == old)) is None
        assert missed is not None


@pytest.mark.postgres
def test_only_one_process_leads_and_a_standby_takes_over(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("the leader lock is a PostgreSQL advisory lock; SQLite has one process")
    first_engine, second_engine = create_db_engine(db_url), create_db_engine(db_url)
    first, second = LeaderLock(first_engine), LeaderLock(second_engine)
    try:
        assert first.try_acquire() and first.held
        assert not second.try_acquire() and not second.held
        first.release()  # the leader stops (or dies: its connection closes)
        assert second.try_acquire() and second.held
        assert not first.try_acquire()
    finally:
        first.release()
        second.release()
        first_engine.dispose()
        second_engine.dispose()
