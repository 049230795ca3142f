"""The job registry: stable name → trigger → function. Jobs hold no business logic."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from careloop.config import Settings
from crm.conversations import inbox
from crm.conversations import service as conversations


@dataclass(frozen=True)
class JobSpec:
    name: str
    func: Callable[[Session, Settings], Any]
    trigger: str  # "interval" or "cron"
    trigger_args: dict[str, Any]
    description: str


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
]
