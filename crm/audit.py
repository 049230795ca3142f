"""The administrators' audit log: every change to staff accounts writes one row."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.models import AuditEntry, User


@dataclass(frozen=True)
class Actor:
    """Who makes a change: a signed-in user, or the command line (``cli (<os user>)``)."""

    name: str
    user_id: int | None = None

    @classmethod
    def of(cls, user: User) -> Actor:
        return cls(user.email, user.id)


def record(
    session: Session, *, by: Actor, action: str, target: str, details: dict[str, Any] | None = None
) -> AuditEntry:
    entry = AuditEntry(
        actor_id=by.user_id,
        actor=by.name[:254],
        action=action,
        target=target,
        details=details or {},
    )
    session.add(entry)
    session.flush()
    return entry


def entries(
    session: Session,
    *,
    target: str | None = None,
    action: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """The newest entries first, optionally for one target or action; page with
    ``before_id`` (the smallest id of the previous page)."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if target is not None:
        query = query.where(AuditEntry.target == target)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    return list(session.scalars(query))
