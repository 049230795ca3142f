"""Orders: the latest one of a customer, one named in a chat, and proof of ownership."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm.models import Customer, Order, VerificationAttempt


def latest_order(session: Session, *, customer_id: int) -> Order | None:
    """The customer's most recent order, if any."""
    return session.scalars(
        select(Order)
        .where(Order.customer_id == customer_id)
        .order_by(Order.ordered_at.desc(), Order.id.desc())
        .limit(1)
    ).first()


def has_orders(session: Session, *, customer_id: int) -> bool:
    return (
        session.scalar(select(Order.id).where(Order.customer_id == customer_id).limit(1))
        is not None
    )


def order_ref(order: Order) -> str:
    """How the shop and the bot name an order: its external id, else ``#<id>``."""
    return order.external_id or f"#{order.id}"


def find_order(session: Session, *, ref: str) -> Order | None:
    """The order a customer named (``O0001234``, ``o0001234``, ``#55821``, ``55821``); a
    number that is no order id may be an ``O``-id whose letter was left out or typed as a
    zero (``#0001234``, ``00001234``)."""
    ref = unicodedata.normalize("NFKC", ref).strip()
    bare = ref.lstrip("#")
    if not bare or len(bare) > 64:
        return None
    candidates = list(dict.fromkeys([bare, bare.upper(), f"#{bare}"]))
    order = session.scalars(select(Order).where(Order.external_id.in_(candidates)).limit(1)).first()
    if order is None and bare.isdigit():
        guesses = [f"O{bare}"] + ([f"O{bare[1:]}"] if bare.startswith("0") else [])
        order = session.scalars(
            select(Order).where(Order.external_id.in_(guesses)).limit(1)
        ).first()
    if order is None and ref.startswith("#") and bare.isdigit() and len(bare) <= 18:
        order = session.scalars(
            select(Order).where(Order.id == int(bare), Order.external_id.is_(None))
        ).first()
    return order


def owner_email_matches(session: Session, order: Order, email: str) -> bool:
    """Whether ``email`` is the order's own email or its customer's (case-insensitive)."""
    given = email.strip().lower()
    if order.email and order.email.strip().lower() == given:
        return True
    customer_email = session.scalar(select(Customer.email).where(Customer.id == order.customer_id))
    return customer_email is not None and customer_email.strip().lower() == given


_POSTCODE_LIKE = re.compile(r"(?<![\w-])(?=\w{0,3}\d)\w{3,8}(?![\w-])")
MAX_POSTCODES_IN_ONE_PROOF = 3


def postcode_matches(order: Order, text: str) -> bool:
    """Whether ``text`` names the order's delivery postcode (spaces and case aside).

    A message naming more than a few postcode-like tokens proves nothing: it could be a
    guess at many at once.
    """
    if not order.shipping_postcode:
        return False
    text = unicodedata.normalize("NFKC", text).upper()
    if len(_POSTCODE_LIKE.findall(text)) > MAX_POSTCODES_IN_ONE_PROOF + 1:
        return False
    code = re.sub(r"[\s-]", "", order.shipping_postcode.upper())
    if not code:
        return False
    pattern = r"(?<![A-Z0-9])" + r"[\s-]?".join(map(re.escape, code)) + r"(?![A-Z0-9])"
    return re.search(pattern, text) is not None


def record_attempt(
    session: Session,
    *,
    identity_id: int,
    conversation_id: int | None,
    ref: str,
    succeeded: bool,
    at: dt.datetime,
) -> None:
    session.add(
        VerificationAttempt(
            channel_identity_id=identity_id,
            conversation_id=conversation_id,
            order_ref=ref[:64],
            succeeded=succeeded,
            created_at=at,
        )
    )


def failed_attempts(
    session: Session, *, identity_id: int, conversation_id: int, since: dt.datetime
) -> tuple[int, int]:
    """Failed proofs ``(in this conversation, by this visitor since since)``."""
    failed = select(func.count()).where(
        VerificationAttempt.channel_identity_id == identity_id,
        VerificationAttempt.succeeded.is_(False),
    )
    in_conversation = session.scalar(
        failed.where(VerificationAttempt.conversation_id == conversation_id)
    )
    recent = session.scalar(failed.where(VerificationAttempt.created_at >= since))
    return int(in_conversation or 0), int(recent or 0)
