"""FastAPI dependencies, exposed as ``Annotated`` aliases."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from bot.engine import Engine as BotEngine
from careloop.config import Settings
from careloop.errors import ValidationFailed
from crm.schemas import MAX_ID
from web.state import AppState

# The dependencies are ``async def``: FastAPI runs a plain ``def`` dependency in its thread
# pool, one hop each per request, and these only read the app's state. Measured with
# bench.chat_throughput (SQLite, 32 visitors): bench/results/2026-12-05-chat-request-path.md.


def _state(request: Request) -> AppState:
    state: AppState = request.app.state.careloop
    return state


async def get_state(request: Request) -> AppState:
    return _state(request)


async def get_session(request: Request) -> AsyncIterator[Session]:
    """A session per request; routers commit explicitly, anything left is rolled back.

    Opening a session touches no database. A session the route left inside a transaction
    (an error before its commit) is rolled back in the thread pool; one that committed
    holds no connection, so closing it is quick enough for the event loop."""
    session = _state(request).session_factory()
    try:
        yield session
    finally:
        if session.in_transaction():
            await run_in_threadpool(_discard, session)
        else:
            session.close()


def _discard(session: Session) -> None:
    session.rollback()
    session.close()


async def get_bot(request: Request) -> BotEngine:
    return _state(request).bot


async def get_settings_dep(request: Request) -> Settings:
    return _state(request).settings


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
