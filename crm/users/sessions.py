"""Staff sign-in sessions kept on the server: the browser holds a random token, the
database its SHA-256, so a session can be ended (sign-out, password change or reset, the
user disabled) and ends by itself after an idle period or its lifetime."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from crm.db import as_utc, utcnow
from crm.models import User, UserSession

TOUCH_SECONDS = 60  # last_seen_at is written at most once a minute per session


@dataclass(frozen=True)
class SessionPolicy:
    idle: dt.timedelta
    lifetime: dt.timedelta


def start_session(
    session: Session,
    *,
    user: User,
    policy: SessionPolicy,
    address: str | None = None,
    user_agent: str | None = None,
    now: dt.datetime | None = None,
) -> tuple[str, UserSession]:
    """A new session for ``user``; the token (for the cookie) is returned, never stored."""
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    row = UserSession(
        user_id=user.id,
        token_hash=token_hash(token),
        created_at=now,
        last_seen_at=now,
        expires_at=now + policy.lifetime,
        address=(address or None) and address[:64],
        user_agent=(user_agent or None) and user_agent[:200],
    )
    session.add(row)
    session.execute(delete(UserSession).where(UserSession.expires_at < now))
    session.flush()
    return token, row


def session_for_token(
    session: Session, token: str, *, policy: SessionPolicy, now: dt.datetime | None = None
) -> UserSession | None:
    """The live session for this cookie token (its last use recorded), or None."""
    if not token or len(token) > 128:
        return None
    row = session.scalars(
        select(UserSession).where(
            UserSession.token_hash == token_hash(token), UserSession.revoked_at.is_(None)
        )
    ).first()
    if row is None:
        return None
    now = now or utcnow()
    idle = now - as_utc(row.last_seen_at)
    if now >= as_utc(row.expires_at) or idle > policy.idle:
        return None
    if idle.total_seconds() > TOUCH_SECONDS:
        row.last_seen_at = now
    return row


def end_session(session: Session, *, token: str) -> None:
    """Sign-out: the session of this token can no longer be used."""
    session.execute(
        update(UserSession)
        .where(UserSession.token_hash == token_hash(token), UserSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def end_user_sessions(session: Session, *, user_id: int, keep: int | None = None) -> int:
    """End every session of the user (but ``keep``); returns how many were ended."""
    query = update(UserSession).where(
        UserSession.user_id == user_id, UserSession.revoked_at.is_(None)
    )
    if keep is not None:
        query = query.where(UserSession.id != keep)
    result = session.execute(query.values(revoked_at=utcnow()))
    return int(getattr(result, "rowcount", 0) or 0)


def active_sessions(session: Session, *, user_id: int, policy: SessionPolicy) -> int:
    """How many of the user's sessions could still be used."""
    now = utcnow()
    rows = session.scalars(
        select(UserSession).where(
            UserSession.user_id == user_id,
            UserSession.revoked_at.is_(None),
            UserSession.expires_at > now,
        )
    )
    return sum(1 for r in rows if now - as_utc(r.last_seen_at) <= policy.idle)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
