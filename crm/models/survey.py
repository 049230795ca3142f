"""Satisfaction surveys (CSAT, NPS, CES): one row per question asked, with its answer."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Text
from sqlalchemy.orm import Mapped, mapped_column

from crm.db import Base, IdMixin, TimestampMixin, enum_column
from crm.models.customer import Channel


class SurveyKind(StrEnum):
    csat = "csat"  # 1-5
    nps = "nps"  # 0-10
    ces = "ces"  # 1-7


class SurveyStatus(StrEnum):
    pending = "pending"
    sent = "sent"
    answered = "answered"
    expired = "expired"


class SurveyResponse(IdMixin, TimestampMixin, Base):
    __tablename__ = "survey_responses"
    __table_args__ = (Index("ix_survey_responses_customer_id_status", "customer_id", "status"),)

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL"), index=True
    )
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    kind: Mapped[SurveyKind] = mapped_column(enum_column(SurveyKind))
    channel: Mapped[Channel] = mapped_column(enum_column(Channel))
    status: Mapped[SurveyStatus] = mapped_column(
        enum_column(SurveyStatus), default=SurveyStatus.pending
    )
    sent_at: Mapped[dt.datetime | None]
    expires_at: Mapped[dt.datetime | None]
    answered_at: Mapped[dt.datetime | None]
    score: Mapped[int | None]
    comment: Mapped[str | None] = mapped_column(Text)
    comment_sentiment: Mapped[float | None]
