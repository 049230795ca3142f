"""Customers and the channel identities they reach us through."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, ForeignKey, Index, Numeric, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.db import Base, IdMixin, TimestampMixin, enum_column, utcnow

if TYPE_CHECKING:
    from crm.models.order import Order


class Channel(StrEnum):
    web = "web"
    telegram = "telegram"


class ChurnRisk(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"


class Customer(IdMixin, TimestampMixin, Base):
    __tablename__ = "customers"
    # Looked up only by a given phone, segment or risk: customers without one (not scored
    # yet, no phone) take no index entry, which a customers import would pay for.
    __table_args__ = tuple(
        Index(
            f"ix_customers_{column}",
            column,
            postgresql_where=text(f"{column} IS NOT NULL"),
            sqlite_where=text(f"{column} IS NOT NULL"),
        )
        for column in ("phone", "rfm_segment", "churn_risk")
    )

    external_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    phone: Mapped[str | None] = mapped_column(String(32))
    birthday: Mapped[dt.date | None]
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    locale: Mapped[str] = mapped_column(String(16), default="en", server_default="en")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    marketing_consent: Mapped[bool] = mapped_column(default=False, server_default="0")
    opted_out_at: Mapped[dt.datetime | None]

    # Scores written by analytics (RFM, CLV, churn); null until first scored.
    rfm_segment: Mapped[str | None] = mapped_column(String(32))
    rfm_score: Mapped[str | None] = mapped_column(String(3))
    clv: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    churn_probability: Mapped[float | None]
    churn_risk: Mapped[ChurnRisk | None] = mapped_column(enum_column(ChurnRisk))
    # Up to three reasons, for customers at medium or high risk: codes and values, worded
    # when read (crm.scoring.reasons); earlier versions stored sentences.
    churn_reasons: Mapped[list[dict[str, Any]] | list[str] | None] = mapped_column(JSON)
    scored_at: Mapped[dt.datetime | None]
    # Satisfaction, refreshed on every survey answer (read by churn scoring and audiences).
    csat_last: Mapped[int | None]
    csat_avg: Mapped[float | None]
    csat_count: Mapped[int] = mapped_column(default=0, server_default="0")
    csat_trend: Mapped[float | None]  # last CSAT minus the average of the ones before
    nps_last: Mapped[int | None]
    nps_category: Mapped[str | None] = mapped_column(String(16))  # promoter/passive/detractor
    satisfaction_at: Mapped[dt.datetime | None]

    identities: Mapped[list[ChannelIdentity]] = relationship(
        back_populates="customer", cascade="all, delete-orphan"
    )
    orders: Mapped[list[Order]] = relationship(back_populates="customer")

    @property
    def display_name(self) -> str:
        name = " ".join(p for p in (self.first_name, self.last_name) if p)
        return name or self.email or f"Customer #{self.id}"


class ChannelIdentity(IdMixin, TimestampMixin, Base):
    """How one customer is addressed on one channel (a Telegram chat, a web visitor id)."""

    __tablename__ = "channel_identities"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[Channel] = mapped_column(enum_column(Channel))
    external_id: Mapped[str] = mapped_column(String(128))
    username: Mapped[str | None] = mapped_column(String(128))
    reachable: Mapped[bool] = mapped_column(default=True, server_default="1")
    unreachable_reason: Mapped[str | None] = mapped_column(String(64))
    unreachable_since: Mapped[dt.datetime | None]

    customer: Mapped[Customer] = relationship(back_populates="identities")


class CustomerEvent(IdMixin, Base):
    """Something that happened to a customer that rules and campaigns react to, e.g.
    ``churn_risk_changed`` with ``{"from": "low", "to": "high", "probability": 0.71}``."""

    __tablename__ = "customer_events"
    __table_args__ = (Index("ix_customer_events_kind_created_at", "kind", "created_at"),)

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
