"""Retention campaigns, their runs, the durable campaign outbox and the audit trail."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Numeric, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from crm.db import Base, IdMixin, TimestampMixin, enum_column, utcnow
from crm.models.customer import Channel


class CampaignStatus(StrEnum):
    draft = "draft"
    scheduled = "scheduled"  # one-off or recurring, waiting for its time
    active = "active"  # triggered: listening for its events
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
    pending = "pending"  # planned, waiting for the dispatcher (or deferred by quiet hours)
    queued = "queued"  # handed to the channel: a message row exists (``message_id``)
    skipped = "skipped"  # a guard said no (``skip_reason``)
    held_out = "held_out"  # control group: never messaged


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
    offer_value: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=0, server_default="0")
    message_cost: Mapped[Decimal] = mapped_column(Numeric(12, 4), default=0, server_default="0")
    # What counts as a conversion: "any_order" within the window, or only "offer_code" orders.
    attribution: Mapped[str] = mapped_column(
        String(16), default="any_order", server_default="any_order"
    )
    attribution_days: Mapped[int] = mapped_column(default=14, server_default="14")
    max_messages: Mapped[int | None]  # per occurrence, treatment only
    schedule_kind: Mapped[ScheduleKind] = mapped_column(enum_column(ScheduleKind))
    schedule: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    control_percent: Mapped[int] = mapped_column(default=10, server_default="10")
    activated_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class CampaignRun(IdMixin, TimestampMixin, Base):
    """One occurrence of a campaign: a one-off or recurring run, or a trigger sweep."""

    __tablename__ = "campaign_runs"
    __table_args__ = (UniqueConstraint("campaign_id", "occurrence_key"),)

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    occurrence_key: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    audience_size: Mapped[int] = mapped_column(default=0, server_default="0")
    treatment_count: Mapped[int] = mapped_column(default=0, server_default="0")
    control_count: Mapped[int] = mapped_column(default=0, server_default="0")
    skipped_count: Mapped[int] = mapped_column(default=0, server_default="0")


class CampaignDelivery(IdMixin, TimestampMixin, Base):
    """One outbox row per campaign, customer and occurrence: the unit of exactly-once.

    ``created_at`` is when the customer entered the campaign; attribution counts orders
    from then on, for the treatment and the control group alike."""

    __tablename__ = "campaign_deliveries"
    __table_args__ = (
        UniqueConstraint("campaign_id", "customer_id", "occurrence_key"),
        Index("ix_campaign_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
        # Only sent rows matter to the frequency cap; a partial index costs planning nothing.
        Index(
            "ix_campaign_deliveries_customer_id_sent_at",
            "customer_id",
            "sent_at",
            sqlite_where=text("sent_at IS NOT NULL"),
            postgresql_where=text("sent_at IS NOT NULL"),
        ),
    )

    # No foreign keys on this table: it takes a million rows in one planning transaction,
    # and PostgreSQL checks every key of every row one by one (~8 µs each, more than the
    # whole rest of planning). The rows are correct by construction (planning selects the
    # customers and the run in the same transaction) and nothing they point to is ever
    # deleted: campaigns finish, runs stay, customers are erased by anonymising the row.
    campaign_id: Mapped[int]
    run_id: Mapped[int | None]
    customer_id: Mapped[int]
    occurrence_key: Mapped[str] = mapped_column(String(64))
    group: Mapped[DeliveryGroup] = mapped_column(enum_column(DeliveryGroup))
    status: Mapped[OutboxStatus] = mapped_column(
        enum_column(OutboxStatus), default=OutboxStatus.pending
    )
    skip_reason: Mapped[str | None] = mapped_column(String(64))
    offer_code: Mapped[str | None] = mapped_column(String(64))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    next_attempt_at: Mapped[dt.datetime | None]  # quiet hours: not before this
    sent_at: Mapped[dt.datetime | None]  # handed to the channel


class CampaignAudit(IdMixin, Base):
    """Who changed what in a campaign, and when: ``changes`` maps field → [old, new]."""

    __tablename__ = "campaign_audit"

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(40))
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
