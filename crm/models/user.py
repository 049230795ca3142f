"""Staff accounts (agents, marketers, admins), their sign-in sessions and API tokens, and
the failed sign-ins that throttle password guessing."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from crm.db import Base, IdMixin, TimestampMixin, enum_column


class Role(StrEnum):
    agent = "agent"
    marketer = "marketer"
    admin = "admin"


class User(IdMixin, TimestampMixin, Base):
    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[Role] = mapped_column(enum_column(Role))
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(default=True, server_default="1")
    # set by a password reset: the user must choose a new password before anything else
    password_change_required: Mapped[bool] = mapped_column(default=False, server_default="0")
    max_concurrent: Mapped[int] = mapped_column(default=5, server_default="5")
    last_login_at: Mapped[dt.datetime | None]
    last_seen_at: Mapped[dt.datetime | None]  # an open inbox page keeps this fresh
    last_assigned_at: Mapped[dt.datetime | None]  # round-robin order for auto-assignment
    team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="SET NULL"), index=True
    )


class ApiToken(IdMixin, TimestampMixin, Base):
    """A bearer token for integrations; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]


class UserSession(IdMixin, Base):
    """A signed-in browser: the cookie holds a random token, only its SHA-256 is stored.
    It ends at ``expires_at`` (absolute), after an idle period, or when revoked (sign-out,
    password change, reset, the user disabled)."""

    __tablename__ = "user_sessions"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime]
    last_seen_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
    revoked_at: Mapped[dt.datetime | None]
    address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(200))


class LoginFailure(IdMixin, Base):
    """One failed sign-in, counted per key: ``account:<email>`` and ``address:<client>``."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_key_at", "key", "at"),)

    key: Mapped[str] = mapped_column(String(300))
    at: Mapped[dt.datetime] = mapped_column(index=True)
