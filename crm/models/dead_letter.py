"""Telegram updates that could not be processed, kept for an operator instead of retried."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crm.db import Base, IdMixin, utcnow


class TelegramDeadLetter(IdMixin, Base):
    """One update the bot could not process (malformed, or a fault in handling it).
    ``payload`` is the update as JSON text with every non-ASCII character escaped, so
    even text no database column takes (a NUL, a lone surrogate) is kept as sent."""

    __tablename__ = "telegram_dead_letters"

    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    update_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    error: Mapped[str] = mapped_column(String(300))
    payload: Mapped[str] = mapped_column(Text)
