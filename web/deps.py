"""FastAPI dependencies, exposed as ``Annotated`` aliases."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from sqlalchemy.orm import Session

from bot.engine import Engine as BotEngine
from careloop.config import Settings
from careloop.errors import ValidationFailed
from crm.schemas import MAX_ID
from web.state import AppState


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.careloop
    return state


def get_session(request: Request) -> Iterator[Session]:
    """A session per request; routers commit explicitly, anything left is rolled back."""
    session = get_state(request).session_factory()
    try:
        yield session
    finally:
        session.rollback()
        session.close()


def get_bot(request: Request) -> BotEngine:
    return get_state(request).bot


def get_settings_dep(request: Request) -> Settings:
    return get_state(request).settings


StateDep = Annotated[AppState, Depends(get_state)]
SessionDep = Annotated[Session, Depends(get_session)]
BotDep = Annotated[BotEngine, Depends(get_bot)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]

# A row id in the path or the query: one larger than any row can have is a clear 422, not
# a database overflow.
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
QueryId = Annotated[int | None, Query(ge=1, le=MAX_ID)]

# Report periods: days a report can cover (and compute a day before or after without
# leaving the calendar).
FIRST_DAY = dt.date(1900, 1, 1)
LAST_DAY = dt.date(9000, 12, 31)


def report_period(
    start: dt.date | None, end: dt.date | None, *, today: dt.date, days: int
) -> tuple[dt.date, dt.date]:
    """``start`` to ``end`` (both included): by default the ``days`` up to ``today``."""
    for name, day in (("start", start), ("end", end)):
        if day is not None and not FIRST_DAY <= day <= LAST_DAY:
            raise ValidationFailed(f"{name} must be between {FIRST_DAY} and {LAST_DAY}")
    end = end or today
    return start or max(FIRST_DAY, end - dt.timedelta(days=days - 1)), end
