"""Dead letters: channel updates that could not be processed, kept for an operator.

A Telegram update whose handling fails for a reason other than a passing outage would
fail again on every retry, and Telegram retries a failed webhook for a long time. It is
stored here instead and acknowledged; an operator reads the list
(``GET /api/v1/admin/telegram/dead-letters``) and can replay the payload by hand.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session

from careloop.text import storable
from crm.models import TelegramDeadLetter

ERROR_LENGTH = 300


def passing_outage(error: BaseException) -> bool:
    """Whether ``error`` is the database being away for a moment (unreachable, a dropped
    connection, a lock or pool timeout): the same update may well succeed on a retry,
    so it is retried, not dead-lettered."""
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, OperationalError | InterfaceError | PoolTimeout)


def record(
    session: Session, *, update_id: int | None, payload: Any, error: BaseException
) -> TelegramDeadLetter:
    """Store one failed update (the caller commits)."""
    described = f"{type(error).__name__}: {error}"
    letter = TelegramDeadLetter(
        update_id=update_id,
        # ensure_ascii: the payload is stored as sent, even a NUL or a lone surrogate
        payload=json.dumps(payload, ensure_ascii=True, default=repr),
        error=storable(described)[:ERROR_LENGTH],
    )
    session.add(letter)
    session.flush()
    return letter


def recent(
    session: Session, *, limit: int = 100, before_id: int | None = None
) -> Sequence[TelegramDeadLetter]:
    """The newest dead letters first; ``before_id`` pages back."""
    query = select(TelegramDeadLetter).order_by(TelegramDeadLetter.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(TelegramDeadLetter.id < before_id)
    return session.scalars(query).all()
