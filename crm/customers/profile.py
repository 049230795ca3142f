"""Everything about one customer, read in one place.

:func:`customer_profile` is the one reader of "everything about a customer" for people:
the customer page and its API (``masked`` for marketers), and, ``brief``, the panel beside
a conversation in the inbox (``exclude_conversation``: the one being read).
:func:`customer_export` is the same reader for a data subject access request: every row,
oldest first, with the messages and nothing masked. The rows are read by one set of
queries (:func:`_rows`), and the words for the scores (:func:`scores`) are shared, so a
change to how a score or its reasons are stored is made in one place.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from crm.customers.privacy import is_erased, mask_email, mask_phone
from crm.customers.service import get_customer
from crm.db import utcnow
from crm.models import (
    ChannelIdentity,
    ContactBlock,
    Conversation,
    Customer,
    CustomerEvent,
    Message,
    Order,
    SurveyResponse,
)
from crm.scoring.reasons import described

RECENT = 10  # orders, conversations and surveys on the profile (newest first)
RECENT_EVENTS = 50
Row = TypeVar("Row", Order, Conversation, SurveyResponse, CustomerEvent, ChannelIdentity)


def customer_profile(
    session: Session,
    customer_id: int,
    *,
    masked: bool = False,
    exclude_conversation: int | None = None,
    brief: bool = False,
) -> dict[str, Any]:
    """Contact, consent, scores, recent orders, past conversations and survey scores; unless
    ``brief`` also identities, events and scoring details.

    ``masked`` (marketers): contacts masked, channel ids and survey comments left out.
    ``exclude_conversation``: a conversation not to list (the one beside which the panel
    is shown)."""
    customer = get_customer(session, customer_id)
    order_count, total = session.execute(
        select(func.count(Order.id), func.coalesce(func.sum(Order.total_amount), 0)).where(
            Order.customer_id == customer.id
        )
    ).one()
    orders = _rows(session, Order, customer, Order.ordered_at, newest=RECENT)
    past = _rows(
        session, Conversation, customer, Conversation.id, newest=RECENT, but=exclude_conversation
    )
    surveys = _rows(session, SurveyResponse, customer, SurveyResponse.id, newest=RECENT)
    words = scores(customer)
    profile: dict[str, Any] = {
        "id": customer.id,
        "name": customer.display_name,
        "email": mask_email(customer.email) if masked else customer.email,
        "phone": mask_phone(customer.phone) if masked else customer.phone,
        "marketing_consent": customer.marketing_consent,
        "segment": words["rfm_segment"],
        "clv": words["clv"],
        "churn_risk": words["churn_risk"],
        "churn_probability": words["churn_probability"],
        "churn_reasons": list(words["churn_reasons"] or []),
        "order_count": int(order_count),
        "total_spent": str(total),
        "orders": [
            {
                "ref": o.external_id or f"#{o.id}",
                "date": o.ordered_at.date().isoformat(),
                "status": o.status.value,
                "total": f"{o.total_amount} {o.currency}",
            }
            for o in orders
        ],
        "conversations": [
            {
                "id": c.id,
                "channel": c.channel.value,
                "status": c.status.value,
                "reason": c.escalation_reason,
                "last_message_at": c.last_message_at.isoformat(),
            }
            for c in past
        ],
        "satisfaction": {
            "csat_last": customer.csat_last,
            "csat_avg": customer.csat_avg,
            "csat_count": customer.csat_count,
            "csat_trend": customer.csat_trend,
            "nps_last": customer.nps_last,
            "nps_category": customer.nps_category,
        },
        "surveys": [
            {
                "kind": s.kind.value,
                "score": s.score,
                "status": s.status.value,
                "comment": None if masked else s.comment,
                "answered_at": _iso(s.answered_at),
            }
            for s in surveys
        ],
    }
    if brief:
        return profile
    identities = _rows(session, ChannelIdentity, customer, ChannelIdentity.id, newest=None)
    events = _rows(session, CustomerEvent, customer, CustomerEvent.id, newest=RECENT_EVENTS)
    profile.update(
        {
            "external_id": customer.external_id,
            "birthday": _iso(customer.birthday),
            "timezone": customer.timezone,
            "tags": customer.tags,
            "opted_out_at": _iso(customer.opted_out_at),
            "rfm_score": words["rfm_score"],
            "scored_at": words["scored_at"],
            "erased": is_erased(customer),
            "identities": [
                {
                    "channel": i.channel.value,
                    "external_id": None if masked else i.external_id,
                    "username": None if masked else i.username,
                    "reachable": i.reachable,
                    "unreachable_reason": i.unreachable_reason,
                }
                for i in identities
            ],
            "events": [{"kind": e.kind, "data": e.data, "at": _iso(e.created_at)} for e in events],
        }
    )
    return profile


def customer_export(session: Session, customer_id: int) -> dict[str, Any]:
    """Everything careloop holds about one customer, oldest first, nothing masked."""
    c = get_customer(session, customer_id)
    conversations = _rows(session, Conversation, c, Conversation.id, newest=None)
    messages = session.scalars(
        select(Message).where(Message.customer_id == c.id).order_by(Message.id)
    ).all()
    by_conversation: dict[int, list[Message]] = {}
    for m in messages:
        by_conversation.setdefault(m.conversation_id, []).append(m)
    words = scores(c)
    return {
        "exported_at": utcnow().isoformat(),
        "customer": {
            "id": c.id,
            "external_id": c.external_id,
            "first_name": c.first_name,
            "last_name": c.last_name,
            "email": c.email,
            "phone": c.phone,
            "birthday": _iso(c.birthday),
            "timezone": c.timezone,
            "locale": c.locale,
            "tags": c.tags,
            "attributes": c.attributes,
            "created_at": _iso(c.created_at),
        },
        "consent": {
            "marketing_consent": c.marketing_consent,
            "opted_out_at": _iso(c.opted_out_at),
        },
        "scores": {
            **words,
            "csat_last": c.csat_last,
            "csat_avg": c.csat_avg,
            "nps_last": c.nps_last,
            "nps_category": c.nps_category,
        },
        "identities": [
            {
                "channel": i.channel.value,
                "external_id": i.external_id,
                "username": i.username,
                "reachable": i.reachable,
                "created_at": _iso(i.created_at),
            }
            for i in _rows(session, ChannelIdentity, c, ChannelIdentity.id, newest=None)
        ],
        "orders": [
            {
                "external_id": o.external_id,
                "ordered_at": _iso(o.ordered_at),
                "status": o.status.value,
                "total_amount": str(o.total_amount),
                "currency": o.currency,
                "items_count": o.items_count,
                "offer_code": o.offer_code,
            }
            for o in _rows(session, Order, c, Order.ordered_at, newest=None)
        ],
        "conversations": [
            {
                "id": conv.id,
                "channel": conv.channel.value,
                "status": conv.status.value,
                "escalation_reason": conv.escalation_reason,
                "created_at": _iso(conv.created_at),
                "messages": [
                    {
                        "at": _iso(m.created_at),
                        "from": m.sender.value,
                        "text": m.text,
                        "intent": m.intent,
                        "sentiment": m.sentiment_score,
                    }
                    for m in by_conversation.get(conv.id, [])
                    if not m.is_private_note
                ],
            }
            for conv in conversations
        ],
        "surveys": [
            {
                "kind": s.kind.value,
                "status": s.status.value,
                "score": s.score,
                "comment": s.comment,
                "sent_at": _iso(s.sent_at),
                "answered_at": _iso(s.answered_at),
            }
            for s in _rows(session, SurveyResponse, c, SurveyResponse.id, newest=None)
        ],
        "events": [
            {"kind": e.kind, "data": e.data, "at": _iso(e.created_at)}
            for e in _rows(session, CustomerEvent, c, CustomerEvent.id, newest=None)
        ],
        "contact_blocks": [
            {
                "channel": b.channel,
                "reason": b.reason.value,
                "note": b.note,
                "at": _iso(b.created_at),
            }
            for b in session.scalars(
                select(ContactBlock)
                .where(ContactBlock.customer_id == c.id)
                .order_by(ContactBlock.id)
            )
        ],
    }


def scores(customer: Customer) -> dict[str, Any]:
    """The customer's value and churn scores in words: the one place that reads how they
    are stored (the churn reasons are None until the customer was scored)."""
    return {
        "rfm_score": customer.rfm_score,
        "rfm_segment": customer.rfm_segment,
        "clv": str(customer.clv) if customer.clv is not None else None,
        "churn_probability": customer.churn_probability,
        "churn_risk": customer.churn_risk.value if customer.churn_risk else None,
        "churn_reasons": (
            None if customer.churn_reasons is None else described(customer.churn_reasons)
        ),
        "scored_at": _iso(customer.scored_at),
    }


def _rows(
    session: Session,
    model: type[Row],
    customer: Customer,
    order: InstrumentedAttribute[Any],
    *,
    newest: int | None,
    but: int | None = None,
) -> Sequence[Row]:
    """The customer's rows of ``model``: the ``newest`` ones, newest first, or (None) all
    of them, oldest first; ``but``: an id left out."""
    query = select(model).where(model.customer_id == customer.id)
    if but is not None:
        query = query.where(model.id != but)
    if newest is None:
        return session.scalars(query.order_by(order)).all()
    return session.scalars(query.order_by(order.desc()).limit(newest)).all()


def _iso(value: dt.datetime | dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None
