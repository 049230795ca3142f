"""The durable outbox: outbound messages waiting for a channel sender.

Every outbound message is written with ``delivery_status = pending``. A sender *claims* due
rows (``pending → sending``, one atomic UPDATE, so two processes never claim the same row),
delivers them and records the outcome: ``sent`` with the channel's message id, ``pending``
again with a later ``next_attempt_at`` (retry), or ``failed`` with a reason.

A claim that a crashed process left behind is released after a lease. Ordinary replies go
back to ``pending`` (at least once: a reply must not be lost). Messages marked
``payload["at_most_once"]`` (campaign messages) record ``attempt_started_at`` in a committed
write just before their request leaves; if the sender dies after that, the channel may or
may not have the message, so it becomes ``unconfirmed`` and is never sent again: a
marketing message is never duplicated. Released claims without that mark were never
attempted and go back to ``pending``, so nothing is lost either.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from crm.db import utcnow
from crm.models import (
    Channel,
    ChannelIdentity,
    Conversation,
    DeliveryStatus,
    Direction,
    Message,
)


@dataclass(frozen=True)
class OutboxItem:
    message_id: int
    identity_id: int | None
    recipient: str | None  # the channel's address (a Telegram chat id)
    text: str
    payload: dict[str, Any]
    attempts: int
    reachable: bool


def _due(channel: Channel, now: dt.datetime) -> Any:
    return (
        Message.channel == channel,
        Message.direction == Direction.outbound,
        Message.delivery_status == DeliveryStatus.pending,
        Message.is_private_note.is_(False),
        or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now),
    )


def claim_due(
    session: Session, *, channel: Channel, limit: int, now: dt.datetime | None = None
) -> list[OutboxItem]:
    """Claim up to ``limit`` due messages for ``channel``, oldest first."""
    now = now or utcnow()
    candidates = list(
        session.scalars(
            select(Message.id).where(*_due(channel, now)).order_by(Message.id).limit(limit)
        )
    )
    if not candidates:
        return []
    claimed = set(
        session.scalars(
            update(Message)
            .where(Message.id.in_(candidates), Message.delivery_status == DeliveryStatus.pending)
            .values(delivery_status=DeliveryStatus.sending, claimed_at=now)
            .returning(Message.id)
            .execution_options(synchronize_session=False)
        )
    )
    rows = session.execute(
        select(
            Message.id,
            Message.text,
            Message.payload,
            Message.delivery_attempts,
            ChannelIdentity.id,
            ChannelIdentity.external_id,
            ChannelIdentity.reachable,
        )
        .join(Conversation, Conversation.id == Message.conversation_id)
        .outerjoin(ChannelIdentity, ChannelIdentity.id == Conversation.channel_identity_id)
        .where(Message.id.in_(claimed))
        .order_by(Message.id)
    ).all()
    return [
        OutboxItem(
            message_id=row[0],
            text=row[1],
            payload=dict(row[2] or {}),
            attempts=row[3],
            identity_id=row[4],
            recipient=row[5],
            reachable=bool(row[6]) if row[4] is not None else False,
        )
        for row in rows
    ]


def mark_sent(
    session: Session, *, message_id: int, channel_message_id: str | None, attempts: int
) -> None:
    """Delivered after ``attempts`` tries in all."""
    session.execute(
        update(Message)
        .where(Message.id == message_id)
        .values(
            delivery_status=DeliveryStatus.sent,
            channel_message_id=channel_message_id,
            delivery_attempts=attempts,
            claimed_at=None,
            attempt_started_at=None,
            next_attempt_at=None,
            delivery_error=None,
        )
        .execution_options(synchronize_session=False)
    )


def mark_failed(
    session: Session, *, message_ids: list[int], error: str, attempts: int | None = None
) -> None:
    """Give up on these messages (``attempts``: the tries made in all, when any were)."""
    if not message_ids:
        return
    values: dict[str, Any] = {
        "delivery_status": DeliveryStatus.failed,
        "claimed_at": None,
        "attempt_started_at": None,
        "delivery_error": error[:200],
    }
    if attempts is not None:
        values["delivery_attempts"] = attempts
    session.execute(
        update(Message)
        .where(Message.id.in_(message_ids))
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def release(
    session: Session,
    *,
    message_ids: list[int],
    retry_at: dt.datetime | None = None,
    error: str | None = None,
    attempted: bool = False,
) -> None:
    """Put claimed messages back in the outbox (a retry later, or a shutdown)."""
    if not message_ids:
        return
    session.execute(
        update(Message)
        .where(Message.id.in_(message_ids), Message.delivery_status == DeliveryStatus.sending)
        .values(
            delivery_status=DeliveryStatus.pending,
            delivery_attempts=Message.delivery_attempts + (1 if attempted else 0),
            next_attempt_at=retry_at,
            claimed_at=None,
            attempt_started_at=None,
            delivery_error=error[:200] if error else None,
        )
        .execution_options(synchronize_session=False)
    )


def start_attempt(session: Session, *, message_id: int, now: dt.datetime | None = None) -> None:
    """Record that the request for an at-most-once message is about to leave (commit it
    before sending)."""
    session.execute(
        update(Message)
        .where(Message.id == message_id, Message.delivery_status == DeliveryStatus.sending)
        .values(attempt_started_at=now or utcnow())
        .execution_options(synchronize_session=False)
    )


def mark_unconfirmed(session: Session, *, message_ids: list[int], error: str) -> None:
    """The request may have reached the channel: never send these again."""
    if not message_ids:
        return
    session.execute(
        update(Message)
        .where(Message.id.in_(message_ids))
        .values(
            delivery_status=DeliveryStatus.unconfirmed,
            claimed_at=None,
            delivery_error=error[:200],
        )
        .execution_options(synchronize_session=False)
    )


def release_stale(
    session: Session,
    *,
    channel: Channel,
    older_than: dt.timedelta,
    now: dt.datetime | None = None,
    keep: Collection[int] = (),
) -> int:
    """Claims older than ``older_than`` belong to a dead process: an at-most-once message
    whose attempt had started becomes ``unconfirmed``, everything else goes back to
    ``pending``. ``keep``: the claims the sweeping process still holds in its own queues
    (old only because a chat's queue is long), which stay its own so that no second claim
    sends them twice. Returns how many went back to pending."""
    cutoff = (now or utcnow()) - older_than
    stale = [
        Message.channel == channel,
        Message.delivery_status == DeliveryStatus.sending,
        Message.claimed_at < cutoff,
    ]
    if keep:
        stale.append(Message.id.not_in(list(keep)))
    session.execute(
        update(Message)
        .where(*stale, Message.attempt_started_at.is_not(None))
        .values(
            delivery_status=DeliveryStatus.unconfirmed,
            claimed_at=None,
            delivery_error="sender stopped while the request was in flight",
        )
        .execution_options(synchronize_session=False)
    )
    result = session.execute(
        update(Message)
        .where(*stale)
        .values(delivery_status=DeliveryStatus.pending, claimed_at=None)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def pending_count(session: Session, *, channel: Channel) -> int:
    """Messages still to deliver on ``channel`` (pending or being sent)."""
    return (
        session.scalar(
            select(func.count(Message.id)).where(
                Message.channel == channel,
                Message.direction == Direction.outbound,
                Message.is_private_note.is_(False),
                Message.delivery_status.in_((DeliveryStatus.pending, DeliveryStatus.sending)),
            )
        )
        or 0
    )
