"""The administrators' audit log: who changed what, to whom, when."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from crm.db import Base, IdMixin, utcnow


class AuditEntry(IdMixin, Base):
    """One administrative change. ``actor`` names who did it even after the user is gone
    (an email, or ``cli`` for the command line); ``target`` is e.g. ``user:12``."""

    __tablename__ = "audit_log"

    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(100), index=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
