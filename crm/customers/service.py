"""Customers and their channel identities."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from careloop.errors import NotFound
from crm.db import utcnow
from crm.models import Channel, ChannelIdentity, Customer


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
