"""Orders."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.models import Order


def latest_order(session: Session, *, customer_id: int) -> Order | None:
    """The customer's most recent order, if any."""
    return session.scalars(
        select(Order)
        .where(Order.customer_id == customer_id)
        .order_by(Order.ordered_at.desc(), Order.id.desc())
        .limit(1)
    ).first()
