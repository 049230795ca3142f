"""Conversations and their messages, with the NLU results stored on each message."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.db import Base, IdMixin, TimestampMixin, enum_column, utcnow
from crm.models.customer import Channel

if TYPE_CHECKING:
    from crm.models.customer import ChannelIdentity, Customer


class ConversationStatus(StrEnum):
    bot = "bot"  # the bot is handling it
    waiting = "waiting"  # escalated, in the agents' queue
    assigned = "assigned"  # an agent has it
    resolved = "resolved"


class Direction(StrEnum):
    inbound = "inbound"
    outbound = "outbound"


class Sender(StrEnum):
    customer = "customer"
    bot = "bot"
    agent = "agent"
    system = "system"


class DeliveryStatus(StrEnum):
    pending = "pending"  # waiting in the outbox
    sending = "sending"  # claimed by a sender process
    sent = "sent"  # accepted by the channel (Telegram answered with the message)
    delivered = "delivered"
    failed = "failed"
    # The request may or may not have reached the channel when the sender died; never
    # retried for messages that must not be sent twice (campaigns), see crm.conversations.outbox.
    unconfirmed = "unconfirmed"


CHANNEL_MESSAGE_ID_LENGTH = 128  # the channel's id of a message, e.g. "<chat id>:<message id>"
OPEN_STATUSES = (ConversationStatus.bot, ConversationStatus.waiting, ConversationStatus.assigned)
# Escalated and still open: in the agents' queue, or with an agent
WITH_A_PERSON = (ConversationStatus.waiting, ConversationStatus.assigned)


class Conversation(IdMixin, TimestampMixin, Base):
    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_status_priority", "status", "priority"),
        Index("ix_conversations_status_queue_rank", "status", "queue_rank"),
        Index("ix_conversations_customer_id_status", "customer_id", "status"),
        Index("ix_conversations_status_resolved_at", "status", "resolved_at"),
    )

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    channel: Mapped[Channel] = mapped_column(enum_column(Channel))
    channel_identity_id: Mapped[int | None] = mapped_column(
        ForeignKey("channel_identities.id", ondelete="SET NULL")
    )
    status: Mapped[ConversationStatus] = mapped_column(
        enum_column(ConversationStatus), default=ConversationStatus.bot
    )
    priority: Mapped[int] = mapped_column(default=0, server_default="0")
    # Queue order: priority * 120 - escalation epoch seconds, i.e. priority plus one point
    # per two minutes of waiting (see crm.conversations.service.queue_rank).
    queue_rank: Mapped[int | None] = mapped_column(BigInteger)
    escalation_reason: Mapped[str | None] = mapped_column(String(64))
    assigned_agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    last_message_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    escalated_at: Mapped[dt.datetime | None]
    resolved_at: Mapped[dt.datetime | None]
    resolved_by: Mapped[Sender | None] = mapped_column(enum_column(Sender))
    # Service metrics, kept as the conversation goes.
    first_agent_reply_at: Mapped[dt.datetime | None]
    agent_message_count: Mapped[int] = mapped_column(default=0, server_default="0")
    # Routing and SLA (crm.conversations.sla): the team it is routed to, the targets set at
    # escalation (warn = "at risk" from then on), the state the SLA job last saw, and
    # whether each target was hit (null until decided).
    team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="SET NULL"), index=True
    )
    first_response_due_at: Mapped[dt.datetime | None]
    first_response_warn_at: Mapped[dt.datetime | None]
    resolution_due_at: Mapped[dt.datetime | None]
    resolution_warn_at: Mapped[dt.datetime | None]
    sla_state: Mapped[str | None] = mapped_column(String(16))
    first_response_hit: Mapped[bool | None]
    resolution_hit: Mapped[bool | None]
    # A reply to a campaign message: the campaign it answers (reply-to-offer loop).
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaigns.id", ondelete="SET NULL"), index=True
    )
    # The customer's scores when the conversation started (for exports and analytics).
    segment_at_start: Mapped[str | None] = mapped_column(String(32))
    clv_at_start: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    churn_risk_at_start: Mapped[str | None] = mapped_column(String(16))
    # The bot's dialogue state: the request in progress, its slots and what the bot asked
    # for (bot.dialogue); None when the bot waits for nothing.
    dialogue: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The language the customer writes in (ISO 639-1, nlp/language_id.py), which the bot
    # answers in where the response book has it; None until a message says enough.
    language: Mapped[str | None] = mapped_column(String(8))

    customer: Mapped[Customer] = relationship()
    channel_identity: Mapped[ChannelIdentity | None] = relationship()
    messages: Mapped[list[Message]] = relationship(
        back_populates="conversation", order_by="Message.id", cascade="all, delete-orphan"
    )


class Message(IdMixin, Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("channel", "channel_message_id"),
        Index("ix_messages_conversation_id_id", "conversation_id", "id"),
        Index("ix_messages_channel_delivery_status_id", "channel", "delivery_status", "id"),
        # One message per thing the jobs send (a campaign delivery, a survey question): a
        # second leader for a moment cannot write it twice.
        Index(
            "uq_messages_outbox_key",
            "outbox_key",
            unique=True,
            sqlite_where=text("outbox_key IS NOT NULL"),
            postgresql_where=text("outbox_key IS NOT NULL"),
        ),
    )

    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[Channel] = mapped_column(enum_column(Channel))
    channel_message_id: Mapped[str | None] = mapped_column(String(CHANNEL_MESSAGE_ID_LENGTH))
    direction: Mapped[Direction] = mapped_column(enum_column(Direction))
    sender: Mapped[Sender] = mapped_column(enum_column(Sender))
    author_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    in_reply_to_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), index=True
    )
    text: Mapped[str] = mapped_column(Text)
    is_private_note: Mapped[bool] = mapped_column(default=False, server_default="0")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    intent: Mapped[str | None] = mapped_column(String(64), index=True)
    intent_confidence: Mapped[float | None]
    sentiment: Mapped[str | None] = mapped_column(String(16))
    sentiment_score: Mapped[float | None]
    nlu: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Order numbers, emails, phones, amounts and dates found in the text (nlp.entities).
    entities: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    # An agent's correction of the intent (training data for the next `careloop nlu train`).
    corrected_intent: Mapped[str | None] = mapped_column(String(64), index=True)
    corrected_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    corrected_at: Mapped[dt.datetime | None]

    delivery_status: Mapped[DeliveryStatus | None] = mapped_column(enum_column(DeliveryStatus))
    delivery_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    next_attempt_at: Mapped[dt.datetime | None]
    claimed_at: Mapped[dt.datetime | None]
    # Set (and committed) just before the request of an at-most-once message leaves.
    attempt_started_at: Mapped[dt.datetime | None]
    delivery_error: Mapped[str | None] = mapped_column(String(200))
    # What the message is the one sending of, e.g. "campaign-delivery:42" or "survey:7".
    outbox_key: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    conversation: Mapped[Conversation] = relationship(back_populates="messages")
