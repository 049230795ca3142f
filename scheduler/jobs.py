"""The job registry: stable name → trigger → function. Jobs hold no business logic."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from careloop.config import Settings
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


JOBS: list[JobSpec] = [
    JobSpec(
        name="conversations.resolve_idle",
        func=resolve_idle_conversations,
        trigger="interval",
        trigger_args={"minutes": 1},
        description="resolve bot conversations that went quiet",
    ),
]
