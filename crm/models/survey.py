"""Satisfaction surveys (CSAT, NPS, CES): one row per question asked, with its answer."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from crm.db import Base, IdMixin, TimestampMixin, enum_column
from crm.models.customer import Channel


class SurveyKind(StrEnum):
    csat = "csat"  # 1-5
    nps = "nps"  # 0-10
    ces = "ces"  # 1-7


class SurveyStatus(StrEnum):
    pending = "pending"  # created, waiting for the dispatch job
    sent = "sent"  # asked; at most one per customer at a time
    answered = "answered"
    expired = "expired"  # asked, no answer in time
    skipped = "skipped"  # never asked: a survey rule said no (see ``skip_reason``)


SCALES: dict[SurveyKind, tuple[int, int]] = {
    SurveyKind.csat: (1, 5),
    SurveyKind.nps: (0, 10),
    SurveyKind.ces: (1, 7),
}


class SurveyResponse(IdMixin, TimestampMixin, Base):
    __tablename__ = "survey_responses"
    __table_args__ = (
        Index("ix_survey_responses_customer_id_status", "customer_id", "status"),
        Index("ix_survey_responses_status_due_at", "status", "due_at"),
        Index("ix_survey_responses_kind_answered_at", "kind", "answered_at"),
        # One survey per conversation, ever: the dispatch job can run twice safely.
        UniqueConstraint("conversation_id", name="uq_survey_responses_conversation_id"),
        # One open (asked, unanswered) survey per customer, enforced by the database.
        Index(
            "uq_survey_responses_one_open",
            "customer_id",
            unique=True,
            sqlite_where=text("status = 'sent'"),
            postgresql_where=text("status = 'sent'"),
        ),
    )

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
    topic: Mapped[str | None] = mapped_column(String(64))  # escalation reason or main intent
    due_at: Mapped[dt.datetime | None]
    skip_reason: Mapped[str | None] = mapped_column(String(32))
    sent_at: Mapped[dt.datetime | None]
    expires_at: Mapped[dt.datetime | None]
    answered_at: Mapped[dt.datetime | None]
    score: Mapped[int | None]
    comment: Mapped[str | None] = mapped_column(Text)
    comment_sentiment: Mapped[float | None]
    comment_open_until: Mapped[dt.datetime | None]  # a free-text "why?" is welcome until then
    follow_up_conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL")
    )
