"""The job registry: stable name → trigger → function. Jobs hold no business logic."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from careloop.config import Settings
from crm.campaigns import dispatch as campaign_dispatch
from crm.campaigns import runs as campaign_runs
from crm.conversations import inbox, sla
from crm.conversations import service as conversations
from crm.scoring import service as scoring
from crm.surveys import service as surveys


@dataclass(frozen=True)
class JobSpec:
    name: str
    func: Callable[[Session, Settings], Any]
    trigger: str  # "interval" or "cron"
    trigger_args: dict[str, Any]
    description: str
    # Bulk work (scoring everyone, planning a campaign's audience): runs without the
    # PostgreSQL statement and idle-in-transaction timeouts of the server's connections.
    long_running: bool = False


def resolve_idle_conversations(session: Session, settings: Settings) -> int:
    """Bot conversations idle for ``idle_resolve_minutes`` are resolved by the bot."""
    ids = conversations.resolve_idle_bot_conversations(
        session, idle_for=dt.timedelta(minutes=settings.idle_resolve_minutes)
    )
    return len(ids)


def auto_assign_conversations(session: Session, settings: Settings) -> int:
    """Waiting conversations go to online agents with free capacity, round robin."""
    if not settings.auto_assign:
        return 0
    pairs = inbox.auto_assign(
        session, online_within=dt.timedelta(seconds=settings.agent_online_seconds)
    )
    return len(pairs)


def check_sla(session: Session, settings: Settings) -> int:
    """Mark open conversations at risk / breached and notify their agents."""
    return sum(sla.check(session).values())


def dispatch_surveys(session: Session, settings: Settings) -> int:
    """Expire old surveys, create after-service ones and ask every due survey."""
    return surveys.dispatch(session, settings).sent


def schedule_nps(session: Session, settings: Settings) -> int:
    """Queue NPS surveys for active customers not asked within the interval."""
    return len(surveys.schedule_nps(session, settings))


def score_customers(session: Session, settings: Settings) -> int:
    """Nightly: RFM segment, lifetime value and churn risk (model retrained) for everyone."""
    rfm, _, _ = scoring.score_customers(session, settings)
    return rfm.customers


def dispatch_campaigns(session: Session, settings: Settings) -> int:
    """Hand due campaign messages to the channels' outboxes, guards checked at send time."""
    return campaign_dispatch.dispatch(session, settings).queued


def campaign_triggers(session: Session, settings: Settings) -> int:
    """Plan what fired the triggered campaigns (churn high, birthday, lapsed, low CSAT)."""
    return sum(r.audience for r in campaign_runs.run_triggers(session, settings))


JOBS: list[JobSpec] = [
    JobSpec(
        name="conversations.resolve_idle",
        func=resolve_idle_conversations,
        trigger="interval",
        trigger_args={"minutes": 1},
        description="resolve bot conversations that went quiet",
    ),
    JobSpec(
        name="inbox.auto_assign",
        func=auto_assign_conversations,
        trigger="interval",
        trigger_args={"seconds": 10},
        description="assign waiting conversations to online agents with free capacity",
    ),
    JobSpec(
        name="inbox.sla",
        func=check_sla,
        trigger="interval",
        trigger_args={"seconds": 30},
        description="mark conversations at risk of / past their SLA targets, notify agents",
    ),
    JobSpec(
        name="surveys.dispatch",
        func=dispatch_surveys,
        trigger="interval",
        trigger_args={"seconds": 30},
        description="ask CSAT/CES after service and due NPS surveys; expire unanswered ones",
    ),
    JobSpec(
        name="surveys.schedule_nps",
        func=schedule_nps,
        trigger="interval",
        trigger_args={"hours": 1},
        description="queue NPS for customers active lately and not asked within the interval",
    ),
    JobSpec(
        name="crm.score",
        func=score_customers,
        trigger="cron",
        trigger_args={"hour": 3, "minute": 15},
        description="score every customer (RFM, lifetime value, churn risk) at night",
        long_running=True,
    ),
    JobSpec(
        name="campaigns.dispatch",
        func=dispatch_campaigns,
        trigger="interval",
        trigger_args={"seconds": 5},
        description="send due campaign messages (consent, cap, quiet hours checked now)",
    ),
    JobSpec(
        name="campaigns.triggers",
        func=campaign_triggers,
        trigger="interval",
        trigger_args={"minutes": 1},
        description="plan triggered campaigns for their new events",
        long_running=True,
    ),
]
