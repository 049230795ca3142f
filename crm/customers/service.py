"""Customers and their channel identities."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from careloop.errors import NotFound
from crm.db import utcnow
from crm.models import Channel, ChannelIdentity, Conversation, Customer, Message


def get_customer(session: Session, customer_id: int) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"customer {customer_id} not found")
    return customer


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


def opt_out(session: Session, *, customer_id: int) -> Customer:
    """Stop all marketing to this customer (service messages still flow)."""
    customer = get_customer(session, customer_id)
    customer.marketing_consent = False
    if customer.opted_out_at is None:
        customer.opted_out_at = utcnow()
    return customer


def give_consent(session: Session, *, customer_id: int) -> Customer:
    """The customer explicitly asked for offers again: marketing consent is back on."""
    customer = get_customer(session, customer_id)
    customer.marketing_consent = True
    customer.opted_out_at = None
    return customer


def mark_unreachable(session: Session, *, identity_id: int, reason: str) -> None:
    """The channel refuses messages to this identity (e.g. the customer blocked the bot)."""
    identity = session.get_one(ChannelIdentity, identity_id)
    if identity.reachable:
        identity.reachable = False
        identity.unreachable_reason = reason[:64]
        identity.unreachable_since = utcnow()


def mark_reachable(session: Session, *, identity: ChannelIdentity) -> None:
    """The customer wrote to us again, so the channel can reach them."""
    if not identity.reachable:
        identity.reachable = True
        identity.unreachable_reason = None
        identity.unreachable_since = None


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
