"""Canned responses: ready-made replies for agents, managed by admins (audited)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from careloop.errors import Conflict, NotFound
from crm import audit
from crm.audit import Actor
from crm.models import CannedResponse


def list_canned(session: Session) -> list[CannedResponse]:
    return list(session.scalars(select(CannedResponse).order_by(CannedResponse.title)))


def get_canned(session: Session, canned_id: int) -> CannedResponse:
    canned = session.get(CannedResponse, canned_id)
    if canned is None:
        raise NotFound(f"canned response {canned_id} not found")
    return canned


def _flush(session: Session, shortcut: str) -> None:
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(f"a canned response with shortcut {shortcut!r} exists") from None


def create_canned(
    session: Session, *, shortcut: str, title: str, text: str, by: Actor
) -> CannedResponse:
    """A new canned response; the shortcut is unique."""
    canned = CannedResponse(shortcut=shortcut, title=title, text=text)
    session.add(canned)
    _flush(session, shortcut)
    audit.record(
        session,
        by=by,
        action="canned.create",
        target=_target(canned),
        details={"shortcut": shortcut, "title": title},
    )
    return canned


def update_canned(
    session: Session, *, canned: CannedResponse, by: Actor, **values: str | None
) -> CannedResponse:
    """Change ``shortcut``, ``title`` or ``text`` (None: unchanged); audited as old → new."""
    changes: dict[str, Any] = {}
    for key in ("shortcut", "title", "text"):
        value = values.get(key)
        if value is not None and value != getattr(canned, key):
            changes[key] = [getattr(canned, key), value]
            setattr(canned, key, value)
    if changes:
        _flush(session, canned.shortcut)
        audit.record(
            session, by=by, action="canned.update", target=_target(canned), details=changes
        )
    return canned


def delete_canned(session: Session, *, canned: CannedResponse, by: Actor) -> None:
    audit.record(
        session,
        by=by,
        action="canned.delete",
        target=_target(canned),
        details={"shortcut": canned.shortcut, "title": canned.title, "text": canned.text},
    )
    session.delete(canned)
    session.flush()


def _target(canned: CannedResponse) -> str:
    return f"canned:{canned.id}"
