"""Retention campaigns, their runs and the durable delivery outbox."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm.db import Base, IdMixin, TimestampMixin, enum_column
from crm.models.customer import Channel


class CampaignStatus(StrEnum):
    draft = "draft"
    scheduled = "scheduled"
    active = "active"
    paused = "paused"
    finished = "finished"


class ScheduleKind(StrEnum):
    once = "once"
    recurring = "recurring"
    triggered = "triggered"


class DeliveryGroup(StrEnum):
    treatment = "treatment"
    control = "control"


class OutboxStatus(StrEnum):
    pending = "pending"
    sent = "sent"
    delivered = "delivered"
    failed = "failed"
    skipped = "skipped"
    held_out = "held_out"


class Campaign(IdMixin, TimestampMixin, Base):
    __tablename__ = "campaigns"

    name: Mapped[str] = mapped_column(String(200))
    goal: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[Channel] = mapped_column(enum_column(Channel))
    status: Mapped[CampaignStatus] = mapped_column(
        enum_column(CampaignStatus), default=CampaignStatus.draft
    )
    audience: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    template: Mapped[str] = mapped_column(Text)
    offer_code: Mapped[str | None] = mapped_column(String(64))
    unique_codes: Mapped[bool] = mapped_column(default=False, server_default="0")
    schedule_kind: Mapped[ScheduleKind] = mapped_column(enum_column(ScheduleKind))
    schedule: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    control_percent: Mapped[int] = mapped_column(default=10, server_default="10")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class CampaignRun(IdMixin, TimestampMixin, Base):
    __tablename__ = "campaign_runs"
    __table_args__ = (UniqueConstraint("campaign_id", "occurrence_key"),)

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    occurrence_key: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    audience_size: Mapped[int] = mapped_column(default=0, server_default="0")
    treatment_count: Mapped[int] = mapped_column(default=0, server_default="0")
    control_count: Mapped[int] = mapped_column(default=0, server_default="0")


class CampaignDelivery(IdMixin, TimestampMixin, Base):
    """One outbox row per campaign, customer and occurrence: the unit of exactly-once."""

    __tablename__ = "campaign_deliveries"
    __table_args__ = (
        UniqueConstraint("campaign_id", "customer_id", "occurrence_key"),
        Index("ix_campaign_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
    )

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    run_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaign_runs.id", ondelete="SET NULL"), index=True
    )
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    occurrence_key: Mapped[str] = mapped_column(String(64))
    group: Mapped[DeliveryGroup] = mapped_column(enum_column(DeliveryGroup))
    status: Mapped[OutboxStatus] = mapped_column(
        enum_column(OutboxStatus), default=OutboxStatus.pending
    )
    skip_reason: Mapped[str | None] = mapped_column(String(64))
    offer_code: Mapped[str | None] = mapped_column(String(64), index=True)
    rendered_text: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    next_attempt_at: Mapped[dt.datetime | None]
    sent_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
