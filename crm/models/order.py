"""Orders placed by customers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Index, Numeric, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.db import Base, IdMixin, TimestampMixin, enum_column, utcnow

if TYPE_CHECKING:
    from crm.models.customer import Customer


class OrderStatus(StrEnum):
    placed = "placed"
    paid = "paid"
    shipped = "shipped"
    delivered = "delivered"
    cancelled = "cancelled"
    returned = "returned"


class Order(IdMixin, TimestampMixin, Base):
    __tablename__ = "orders"
    __table_args__ = (
        # Covering for scoring: the history of every customer is read from this index
        # alone, already in customer and time order (no table lookups, no sort).
        Index("ix_orders_customer_history", "customer_id", "ordered_at", "total_amount", "status"),
        # Only orders that carry a code (few) are looked up by it; a partial index costs
        # the import nothing for the others.
        Index(
            "ix_orders_offer_code",
            "offer_code",
            postgresql_where=text("offer_code IS NOT NULL"),
            sqlite_where=text("offer_code IS NOT NULL"),
        ),
    )

    external_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    ordered_at: Mapped[dt.datetime]
    status: Mapped[OrderStatus] = mapped_column(enum_column(OrderStatus))
    total_amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(String(3), default="EUR", server_default="EUR")
    items_count: Mapped[int] = mapped_column(default=1, server_default="1")
    offer_code: Mapped[str | None] = mapped_column(String(64))
    carrier: Mapped[str | None] = mapped_column(String(64))
    tracking_number: Mapped[str | None] = mapped_column(String(64))
    estimated_delivery: Mapped[dt.date | None]
    # Where it goes, and the email it was placed with (a guest checkout may differ from the
    # customer's): the bot reveals an order to whoever names it with this email or postcode.
    email: Mapped[str | None] = mapped_column(String(254))
    shipping_postcode: Mapped[str | None] = mapped_column(String(16))
    shipping_address: Mapped[str | None] = mapped_column(String(300))

    customer: Mapped[Customer] = relationship(back_populates="orders")


class VerificationAttempt(IdMixin, Base):
    """One try of a chat visitor to prove they own an order (order number + email or
    postcode): failures are counted per conversation and per visitor to stop guessing."""

    __tablename__ = "verification_attempts"
    __table_args__ = (
        Index("ix_verification_attempts_identity_created", "channel_identity_id", "created_at"),
    )

    channel_identity_id: Mapped[int] = mapped_column(
        ForeignKey("channel_identities.id", ondelete="CASCADE")
    )
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL"), index=True
    )
    order_ref: Mapped[str] = mapped_column(String(64))
    succeeded: Mapped[bool]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
