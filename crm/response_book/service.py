"""Stored versions of the bot's response book. The text is checked by the bot
(``bot.book``) before it is stored here; this module only keeps the history."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from careloop.errors import Conflict, NotFound
from crm import audit
from crm.audit import Actor
from crm.models import ResponseBookVersion


def latest(session: Session) -> ResponseBookVersion | None:
    """The active version (the newest), or None while the shipped file is in use."""
    return session.scalars(
        select(ResponseBookVersion).order_by(ResponseBookVersion.version.desc()).limit(1)
    ).first()


def latest_number(session: Session) -> int:
    """The active version's number (0 while none is stored)."""
    return session.scalar(select(func.max(ResponseBookVersion.version))) or 0


def versions(session: Session, *, limit: int = 100) -> list[ResponseBookVersion]:
    """The newest versions first."""
    query = select(ResponseBookVersion).order_by(ResponseBookVersion.version.desc())
    return list(session.scalars(query.limit(limit)))


def get_version(session: Session, version: int) -> ResponseBookVersion:
    row = session.scalars(
        select(ResponseBookVersion).where(ResponseBookVersion.version == version)
    ).first()
    if row is None:
        raise NotFound(f"response book version {version} not found")
    return row


def store(
    session: Session, *, source: str, comment: str, by: Actor, restored_from: int | None = None
) -> ResponseBookVersion:
    """Store ``source`` as the next version (it becomes the active one); audited.
    Two admins publishing at once: the second gets a conflict, not a lost version."""
    number = latest_number(session) + 1
    row = ResponseBookVersion(
        version=number,
        source=source,
        comment=comment[:200],
        created_by_id=by.user_id,
        created_by=by.name[:254],
    )
    session.add(row)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict("someone published a version at the same time; reload and retry") from None
    details: dict[str, object] = {"version": number, "comment": row.comment}
    if restored_from is not None:
        details["restored_from"] = restored_from
    audit.record(
        session,
        by=by,
        action="response_book.restore" if restored_from else "response_book.publish",
        target=f"response_book:{number}",
        details=details,
    )
    return row
