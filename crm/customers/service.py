"""Customers and their channel identities."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from careloop.errors import NotFound, ValidationFailed
from crm import events
from crm.db import dialect_insert, utcnow
from crm.models import (
    BlockReason,
    Channel,
    ChannelIdentity,
    ContactBlock,
    Conversation,
    Customer,
    Message,
)


def get_customer(session: Session, customer_id: int) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"customer {customer_id} not found")
    return customer


def find_by_external_id(session: Session, external_id: str) -> Customer | None:
    """The customer the shop knows by ``external_id``."""
    return session.scalars(select(Customer).where(Customer.external_id == external_id)).first()


def find_identity(
    session: Session, *, channel: Channel, external_id: str
) -> ChannelIdentity | None:
    return session.scalars(
        select(ChannelIdentity).where(
            ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id
        )
    ).one_or_none()


def get_or_create_identity(
    session: Session,
    *,
    channel: Channel,
    external_id: str,
    username: str | None = None,
    first_name: str | None = None,
) -> ChannelIdentity:
    """The identity for ``(channel, external_id)``; a new customer is created on first contact.

    Safe against a concurrent first contact: the unique constraint decides, and the loser
    reads the winner's row.
    """
    identity = find_identity(session, channel=channel, external_id=external_id)
    if identity is not None:
        return identity
    try:
        with session.begin_nested():
            customer = Customer(first_name=first_name)
            session.add(customer)
            identity = ChannelIdentity(
                customer=customer, channel=channel, external_id=external_id, username=username
            )
            session.add(identity)
            session.flush()
    except IntegrityError:
        identity = find_identity(session, channel=channel, external_id=external_id)
        if identity is None:
            raise
    return identity


def create_identity(
    session: Session,
    *,
    channel: Channel,
    external_id: str,
    username: str | None = None,
    first_name: str | None = None,
) -> tuple[ChannelIdentity, bool]:
    """A new customer and their identity for ``(channel, external_id)``; ``(identity, True)``.

    A concurrent first contact may have won: the unique constraint decides (``ON CONFLICT
    DO NOTHING``), the customer made here is dropped, and ``(winner, False)`` comes back.
    """
    # Both rows are written by statements built once (see _first_contact), not through
    # the unit of work: every new visitor's first message writes them.
    customer_insert, identity_insert = _first_contact(session.get_bind().dialect.name)
    customer = session.scalars(customer_insert, {"first_name": first_name}).one()
    identity = session.scalars(
        identity_insert,
        {
            "customer_id": customer.id,
            "channel": channel,
            "external_id": external_id,
            "username": username,
            "reachable": True,
        },
    ).first()
    if identity is not None:
        set_committed_value(identity, "customer", customer)  # known: no lazy load later
        events.touch(session, events.identity_topic(channel.value, external_id))
        return identity, True
    session.delete(customer)
    winner = find_identity(session, channel=channel, external_id=external_id)
    if winner is None:  # pragma: no cover - the conflict names a row that exists
        raise RuntimeError(f"identity {channel}:{external_id} conflicted but is missing")
    return winner, False


@functools.cache
def _first_contact(dialect: str) -> tuple[Any, Any]:
    """``INSERT … RETURNING`` a customer, and ``INSERT … ON CONFLICT DO NOTHING RETURNING``
    an identity, for ``dialect``: built once, so each first contact pays for running them
    and not for building them and their cache keys again. Measured (SQLite, 1,000 new
    visitors' first messages, model answers given, CPU p50): see
    bench/results/2026-12-05-chat-request-path.md. The rows come back as objects through
    ``from_statement`` (see crm/conversations/service.py, beside ``_visitor_query``)."""
    return (
        select(Customer).from_statement(insert(Customer).returning(Customer)),
        select(ChannelIdentity).from_statement(
            dialect_insert(dialect, ChannelIdentity)
            .on_conflict_do_nothing(index_elements=["channel", "external_id"])
            .returning(ChannelIdentity)
        ),
    )


def is_known(customer: Customer) -> bool:
    """A customer the shop knows (imported, or linked by a proof or a signed link), not a
    placeholder made at first contact."""
    return customer.external_id is not None or customer.email is not None


def opt_out(session: Session, *, customer_id: int) -> Customer:
    """Stop all marketing to this customer (service messages still flow)."""
    customer = get_customer(session, customer_id)
    customer.marketing_consent = False
    if customer.opted_out_at is None:
        customer.opted_out_at = utcnow()
    add_block(session, customer_id=customer.id, reason=BlockReason.opted_out)
    return customer


def give_consent(session: Session, *, customer_id: int) -> Customer:
    """The customer explicitly asked for offers again: marketing consent is back on."""
    customer = get_customer(session, customer_id)
    customer.marketing_consent = True
    customer.opted_out_at = None
    remove_blocks(session, customer_id=customer.id, reason=BlockReason.opted_out)
    return customer


def mark_unreachable(session: Session, *, identity_id: int, reason: str) -> None:
    """The channel refuses messages to this identity (e.g. the customer blocked the bot)."""
    identity = session.get_one(ChannelIdentity, identity_id)
    if identity.reachable:
        identity.reachable = False
        identity.unreachable_reason = reason[:64]
        identity.unreachable_since = utcnow()
    if reason == BlockReason.blocked_bot.value:
        add_block(
            session,
            customer_id=identity.customer_id,
            channel=identity.channel.value,
            reason=BlockReason.blocked_bot,
        )


def mark_reachable(session: Session, *, identity: ChannelIdentity) -> None:
    """The customer wrote to us again, so the channel can reach them."""
    if not identity.reachable:
        identity.reachable = True
        identity.unreachable_reason = None
        identity.unreachable_since = None
        remove_blocks(
            session,
            customer_id=identity.customer_id,
            reason=BlockReason.blocked_bot,
            channel=identity.channel.value,
        )


CONTACT_CHANNELS = ("any", *(c.value for c in Channel))


def add_block(
    session: Session,
    *,
    customer_id: int,
    reason: BlockReason,
    channel: str = "any",
    note: str | None = None,
    by: int | None = None,
) -> ContactBlock:
    """A do-not-contact entry (no marketing on ``channel``, or on any); idempotent."""
    if channel not in CONTACT_CHANNELS:
        raise ValidationFailed(f"channel: one of {', '.join(CONTACT_CHANNELS)}")
    existing = session.scalars(
        select(ContactBlock).where(
            ContactBlock.customer_id == customer_id,
            ContactBlock.channel == channel,
            ContactBlock.reason == reason,
        )
    ).first()
    if existing is not None:
        return existing
    block = ContactBlock(
        customer_id=customer_id,
        channel=channel,
        reason=reason,
        note=(note or None) and note[:300],
        created_by_id=by,
    )
    session.add(block)
    session.flush()
    return block


def remove_blocks(
    session: Session, *, customer_id: int, reason: BlockReason, channel: str | None = None
) -> int:
    """Lift the customer's ``reason`` entries (on ``channel`` only, when given)."""
    query = delete(ContactBlock).where(
        ContactBlock.customer_id == customer_id, ContactBlock.reason == reason
    )
    if channel is not None:
        query = query.where(ContactBlock.channel == channel)
    result = session.execute(query.execution_options(synchronize_session="fetch"))
    return int(getattr(result, "rowcount", 0) or 0)


def blocks(session: Session, *, customer_id: int) -> list[ContactBlock]:
    return list(
        session.scalars(
            select(ContactBlock)
            .where(ContactBlock.customer_id == customer_id)
            .order_by(ContactBlock.id)
        )
    )


def link_identity(
    session: Session, *, identity: ChannelIdentity, customer_id: int
) -> tuple[Customer, bool]:
    """Attach a channel identity to an existing CRM customer (from a signed deep link).

    The identity's conversations and messages move with it. Returns the customer and whether
    anything changed. The placeholder customer made at first contact stays (it may hold
    nothing but an empty profile) so that no history is ever deleted by a link.
    """
    customer = get_customer(session, customer_id)
    if identity.customer_id == customer.id:
        return customer, False

    conversation_ids = select(Conversation.id).where(
        Conversation.channel_identity_id == identity.id
    )
    session.execute(
        update(Message)
        .where(Message.conversation_id.in_(conversation_ids))
        .values(customer_id=customer.id)
    )
    session.execute(
        update(Conversation)
        .where(Conversation.channel_identity_id == identity.id)
        .values(customer_id=customer.id)
    )
    identity.customer_id = customer.id
    session.flush()
    session.expire_all()
    return customer, True
