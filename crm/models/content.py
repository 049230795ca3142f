"""What staff and the bot say: agents' canned responses and the versions of the bot's
response book."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crm.db import Base, IdMixin, TimestampMixin, utcnow


class CannedResponse(IdMixin, TimestampMixin, Base):
    """A ready-made reply agents insert in the conversation view (``shortcut`` is unique)."""

    __tablename__ = "canned_responses"

    shortcut: Mapped[str] = mapped_column(String(40), unique=True)
    title: Mapped[str] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(Text)


class ResponseBookVersion(IdMixin, Base):
    """One published version of the bot's response book (YAML, see ``bot/responses.yml``);
    the highest ``version`` is the active one. Versions are never changed: restoring an
    old one publishes its text again as a new version."""

    __tablename__ = "response_book_versions"

    version: Mapped[int] = mapped_column(unique=True)
    source: Mapped[str] = mapped_column(Text)
    comment: Mapped[str] = mapped_column(String(200), default="", server_default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
