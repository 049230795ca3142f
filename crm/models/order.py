"""Orders placed by customers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Index, Numeric, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.db import Base, IdMixin, TimestampMixin, enum_column

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

    customer: Mapped[Customer] = relationship(back_populates="orders")
