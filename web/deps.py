"""FastAPI dependencies, exposed as ``Annotated`` aliases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from sqlalchemy.orm import Session

from bot.engine import Engine as BotEngine
from careloop.config import Settings
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
