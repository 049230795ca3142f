"""The durable outbox: atomic claims, outcomes, retries and stale-claim recovery."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from careloop.config import get_settings
from crm.conversations import outbox
from crm.conversations.service import add_message, open_conversation
from crm.db import utcnow
from crm.models import Channel, ChannelIdentity, DeliveryStatus, Direction, Message, Sender
from tests.factories import make_customer


def telegram_message(session: Session, chat: str, text: str = "hi") -> Message:
    customer = make_customer(session)
    identity = ChannelIdentity(customer_id=customer.id, channel=Channel.telegram, external_id=chat)
    session.add(identity)
    session.flush()
    conversation = open_conversation(
        session,
        identity=identity,
        reply_window=dt.timedelta(days=get_settings().campaign_reply_window_days),
    )
    return add_message(
        session,
        conversation=conversation,
        direction=Direction.outbound,
        sender=Sender.bot,
        text=text,
    )


def test_a_claimed_message_is_not_claimed_again(session: Session) -> None:
    first = telegram_message(session, "701")
    second = telegram_message(session, "702")
    claimed = outbox.claim_due(session, channel=Channel.telegram, limit=10)
    assert [c.message_id for c in claimed] == [first.id, second.id]
    assert claimed[0].recipient == "701" and claimed[0].reachable
    assert outbox.claim_due(session, channel=Channel.telegram, limit=10) == []
    assert outbox.claim_due(session, channel=Channel.web, limit=10) == []
    session.expire_all()
    assert session.get_one(Message, first.id).delivery_status is DeliveryStatus.sending


def test_outcomes_are_recorded(session: Session) -> None:
    sent, failed, retried = (telegram_message(session, str(800 + i)) for i in range(3))
    outbox.claim_due(session, channel=Channel.telegram, limit=10)
    outbox.mark_sent(session, message_id=sent.id, channel_message_id="800:55", attempts=2)
    outbox.mark_failed(session, message_ids=[failed.id], error="Forbidden: blocked", attempts=1)
    later = utcnow() + dt.timedelta(minutes=5)
    outbox.release(
        session, message_ids=[retried.id], retry_at=later, error="timeout", attempted=True
    )
    session.expire_all()
    assert (sent.delivery_status, sent.channel_message_id, sent.delivery_attempts) == (
        DeliveryStatus.sent,
        "800:55",
        2,
    )
    assert failed.delivery_status is DeliveryStatus.failed and "blocked" in (
        failed.delivery_error or ""
    )
    assert retried.delivery_status is DeliveryStatus.pending and retried.delivery_attempts == 1
    assert outbox.claim_due(session, channel=Channel.telegram, limit=10) == [], "not due yet"
    due = outbox.claim_due(session, channel=Channel.telegram, limit=10, now=later)
    assert [d.message_id for d in due] == [retried.id]


def test_stale_claims_go_back_to_the_outbox(session: Session) -> None:
    message = telegram_message(session, "901")
    long_ago = utcnow() - dt.timedelta(hours=1)
    outbox.claim_due(session, channel=Channel.telegram, limit=10, now=long_ago)
    assert outbox.pending_count(session, channel=Channel.telegram) == 1
    released = outbox.release_stale(
        session, channel=Channel.telegram, older_than=dt.timedelta(minutes=5)
    )
    assert released == 1
    assert [c.message_id for c in outbox.claim_due(session, channel=Channel.telegram, limit=5)] == [
        message.id
    ]


def test_a_sweep_leaves_the_sweeping_process_its_own_old_claims(session: Session) -> None:
    """A long chat queue makes a claim old; the process that holds it keeps it, so the
    message is not claimed (and sent) a second time."""
    mine, dead = telegram_message(session, "902"), telegram_message(session, "903")
    long_ago = utcnow() - dt.timedelta(hours=1)
    outbox.claim_due(session, channel=Channel.telegram, limit=10, now=long_ago)
    released = outbox.release_stale(
        session, channel=Channel.telegram, older_than=dt.timedelta(minutes=5), keep=[mine.id]
    )
    assert released == 1
    again = outbox.claim_due(session, channel=Channel.telegram, limit=5)
    assert [c.message_id for c in again] == [dead.id]
