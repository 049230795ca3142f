"""Service operations: teams with business hours, SLA policies, agent notifications and
per-channel do-not-contact entries."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm.db import Base, IdMixin, TimestampMixin, enum_column, utcnow


class Team(IdMixin, TimestampMixin, Base):
    """A group of agents with its own business hours; escalations whose intent is in
    ``intents`` are routed to it first."""

    __tablename__ = "teams"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    # "mon-fri 09:00-18:00, sat 10:00-14:00" (crm.hours); empty: open around the clock.
    business_hours: Mapped[str] = mapped_column(String(200), default="", server_default="")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    holidays: Mapped[list[str]] = mapped_column(JSON, default=list)  # ISO dates
    intents: Mapped[list[str]] = mapped_column(JSON, default=list)


class SlaPolicy(IdMixin, TimestampMixin, Base):
    """First-response and resolution targets. One policy per team, plus one default
    (``team_id`` null) for conversations without a team."""

    __tablename__ = "sla_policies"

    name: Mapped[str] = mapped_column(String(100))
    team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), unique=True
    )
    first_response_minutes: Mapped[int]
    resolution_minutes: Mapped[int]
    business_hours_only: Mapped[bool] = mapped_column(default=True, server_default="1")
    # Conversations at or above this priority get their targets multiplied by urgent_factor.
    urgent_priority: Mapped[int] = mapped_column(default=60, server_default="60")
    urgent_factor: Mapped[float] = mapped_column(default=0.5, server_default="0.5")
    # "At risk" once this share of the target time has gone by.
    at_risk_percent: Mapped[int] = mapped_column(default=80, server_default="80")


class SlaState(StrEnum):
    on_track = "on_track"
    at_risk = "at_risk"
    breached = "breached"


class Notification(IdMixin, Base):
    """Something an agent should see now (an SLA at risk or breached)."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_id_read_at", "user_id", "read_at"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(String(300))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    read_at: Mapped[dt.datetime | None]


class BlockReason(StrEnum):
    opted_out = "opted_out"  # the customer asked for no marketing
    blocked_bot = "blocked_bot"  # the channel says the customer blocked us
    manual = "manual"  # staff decided


class ContactBlock(IdMixin, Base):
    """Do not send marketing to this customer on this channel (``channel`` "any": on all)."""

    __tablename__ = "contact_blocks"
    __table_args__ = (UniqueConstraint("customer_id", "channel", "reason"),)

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(20), default="any", server_default="any")
    reason: Mapped[BlockReason] = mapped_column(enum_column(BlockReason))
    note: Mapped[str | None] = mapped_column(String(300))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
