"""Personal data: export everything about a customer, erase it, mask it for marketers.

* **Export**: one JSON-ready document with the profile, consent, identities, orders,
  conversations with every message, surveys with comments, scores and events.
* **Erase**: personal data is removed or anonymised, aggregates stay: orders keep their
  amounts and dates (revenue, RFM and CLV stay right), surveys keep their scores
  (satisfaction analytics stay right), conversations keep their timing. Names, contacts,
  birthday, external ids, channel identities, message texts, survey comments and NLU
  payloads go. The customer is opted out so that nothing is sent to the empty record.
* **Masking**: contact fields as marketers see them (``a***@example.com``, ``+49*****67``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from careloop.errors import NotFound
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

ERASED = "[erased]"


def mask_email(email: str | None) -> str | None:
    if not email or "@" not in email:
        return None if not email else "***"
    local, domain = email.split("@", 1)
    return f"{local[:1]}***@{domain}"


def mask_phone(phone: str | None) -> str | None:
    if not phone:
        return None
    return phone[:3] + "*" * max(len(phone) - 5, 1) + phone[-2:]


def mask_order(ref: str) -> str:
    """An order number with all but its first and last two characters hidden."""
    if len(ref) <= 4:
        return "*" * len(ref)
    return ref[:1] + "*" * (len(ref) - 3) + ref[-2:]


MASKERS = {"email": mask_email, "phone": mask_phone, "order": mask_order}


def mask_text(text: str, found: list[tuple[str, str]]) -> str:
    """``text`` with the emails, phones and order numbers in ``found`` ((kind, as written)
    pairs from the entity extractor) masked. When one can't be located in the text as
    written (the extractor normalises invisible and full-width characters), the whole text
    is hidden rather than risk showing it."""
    out = text
    for kind, written in found:
        masker = MASKERS.get(kind)
        if masker is None:
            continue
        if written not in out:
            return "[hidden: contains contact details]"
        out = out.replace(written, masker(written) or "***")
    return out


def masked_transcript(
    session: Session, conversation_id: int, mask: Callable[[str], str]
) -> dict[str, Any]:
    """A conversation as a marketer may read it: no private notes, the customer by first
    name only, every message passed through ``mask`` (text → masked text)."""
    conversation = session.get(Conversation, conversation_id)
    if conversation is None:
        raise NotFound(f"conversation {conversation_id} not found")
    customer = session.get(Customer, conversation.customer_id)
    messages = session.scalars(
        select(Message)
        .where(Message.conversation_id == conversation_id, Message.is_private_note.is_(False))
        .order_by(Message.id)
    ).all()
    return {
        "conversation": {
            "id": conversation.id,
            "channel": conversation.channel.value,
            "status": conversation.status.value,
            "escalation_reason": conversation.escalation_reason,
            "started_at": _iso(conversation.created_at),
        },
        "customer": (customer.first_name if customer and customer.first_name else None)
        or f"customer #{conversation.customer_id}",
        "masked": True,
        "messages": [
            {
                "id": m.id,
                "sender": m.sender.value,
                "text": mask(m.text or ""),
                "intent": m.corrected_intent or m.intent,
                "created_at": _iso(m.created_at),
            }
            for m in messages
        ],
    }


def _iso(value: dt.datetime | dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def export_customer(session: Session, customer_id: int) -> dict[str, Any]:
    """Everything careloop holds about one customer."""
    c = get_customer(session, customer_id)
    identities = session.scalars(
        select(ChannelIdentity).where(ChannelIdentity.customer_id == c.id)
    ).all()
    orders = session.scalars(
        select(Order).where(Order.customer_id == c.id).order_by(Order.ordered_at)
    ).all()
    conversations = session.scalars(
        select(Conversation).where(Conversation.customer_id == c.id).order_by(Conversation.id)
    ).all()
    messages = session.scalars(
        select(Message).where(Message.customer_id == c.id).order_by(Message.id)
    ).all()
    by_conversation: dict[int, list[Message]] = {}
    for m in messages:
        by_conversation.setdefault(m.conversation_id, []).append(m)
    surveys = session.scalars(
        select(SurveyResponse).where(SurveyResponse.customer_id == c.id).order_by(SurveyResponse.id)
    ).all()
    events = session.scalars(
        select(CustomerEvent).where(CustomerEvent.customer_id == c.id).order_by(CustomerEvent.id)
    ).all()
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
            "rfm_score": c.rfm_score,
            "rfm_segment": c.rfm_segment,
            "clv": str(c.clv) if c.clv is not None else None,
            "churn_probability": c.churn_probability,
            "churn_risk": c.churn_risk.value if c.churn_risk else None,
            "churn_reasons": None if c.churn_reasons is None else described(c.churn_reasons),
            "scored_at": _iso(c.scored_at),
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
            for i in identities
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
            for o in orders
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
            for s in surveys
        ],
        "events": [{"kind": e.kind, "data": e.data, "at": _iso(e.created_at)} for e in events],
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


def erase_customer(session: Session, customer_id: int) -> dict[str, int]:
    """Remove the customer's personal data, keep the aggregates; returns what changed."""
    c = get_customer(session, customer_id)
    now = utcnow()
    c.external_id = None
    c.first_name = None
    c.last_name = None
    c.email = None
    c.phone = None
    c.birthday = None
    c.tags = []
    c.attributes = {"erased_at": now.isoformat()}
    c.marketing_consent = False
    c.opted_out_at = c.opted_out_at or now
    messages = session.execute(
        update(Message)
        .where(Message.customer_id == c.id)
        # The text is gone, so an agent's intent correction is no training data any more.
        .values(text=ERASED, nlu=None, payload={}, channel_message_id=None, corrected_intent=None)
    )
    session.execute(update(ContactBlock).where(ContactBlock.customer_id == c.id).values(note=None))
    comments = session.execute(
        update(SurveyResponse)
        .where(SurveyResponse.customer_id == c.id, SurveyResponse.comment.is_not(None))
        .values(comment=None)
    )
    identities = session.execute(delete(ChannelIdentity).where(ChannelIdentity.customer_id == c.id))
    session.execute(update(Order).where(Order.customer_id == c.id).values(tracking_number=None))
    session.add(CustomerEvent(customer_id=c.id, kind="erased", data={}, created_at=now))
    session.flush()
    return {
        "messages": int(messages.rowcount or 0),  # type: ignore[attr-defined]
        "survey_comments": int(comments.rowcount or 0),  # type: ignore[attr-defined]
        "identities": int(identities.rowcount or 0),  # type: ignore[attr-defined]
    }


def is_erased(customer: Customer) -> bool:
    return bool((customer.attributes or {}).get("erased_at"))
