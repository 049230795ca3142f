"""The customer 360 shown on the customer page (and, smaller, beside a conversation)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.conversations.inbox import customer_360
from crm.customers.privacy import is_erased, mask_email, mask_phone
from crm.customers.service import get_customer
from crm.models import ChannelIdentity, CustomerEvent


def customer_profile(session: Session, customer_id: int, *, masked: bool) -> dict[str, Any]:
    """Profile, consent, identities, orders, conversations, surveys, scores with reasons and
    events. ``masked`` (marketers): contacts masked, channel ids and comments left out."""
    customer = get_customer(session, customer_id)
    profile = customer_360(session, customer_id)
    profile.update(
        {
            "external_id": customer.external_id,
            "birthday": customer.birthday.isoformat() if customer.birthday else None,
            "timezone": customer.timezone,
            "tags": customer.tags,
            "opted_out_at": customer.opted_out_at.isoformat() if customer.opted_out_at else None,
            "rfm_score": customer.rfm_score,
            "scored_at": customer.scored_at.isoformat() if customer.scored_at else None,
            "erased": is_erased(customer),
            "identities": [
                {
                    "channel": i.channel.value,
                    "external_id": None if masked else i.external_id,
                    "username": None if masked else i.username,
                    "reachable": i.reachable,
                    "unreachable_reason": i.unreachable_reason,
                }
                for i in session.scalars(
                    select(ChannelIdentity).where(ChannelIdentity.customer_id == customer_id)
                )
            ],
            "events": [
                {"kind": e.kind, "data": e.data, "at": e.created_at.isoformat()}
                for e in session.scalars(
                    select(CustomerEvent)
                    .where(CustomerEvent.customer_id == customer_id)
                    .order_by(CustomerEvent.id.desc())
                    .limit(50)
                )
            ],
        }
    )
    if masked:
        profile["email"] = mask_email(profile["email"])
        profile["phone"] = mask_phone(profile["phone"])
        for survey in profile["surveys"]:
            survey["comment"] = None
    return profile
