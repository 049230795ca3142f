"""Personal data: export everything about a customer, erase it, mask it for marketers.

* **Export**: :func:`crm.customers.profile.customer_export`, one JSON-ready document with
  the profile, consent, identities, orders, conversations with every message, surveys with
  comments, scores and events (the customer reader's, so that it misses nothing the
  profile shows).
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
