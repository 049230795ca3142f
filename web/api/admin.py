"""Administrators' API: staff accounts (list, create, change role, disable / enable,
reset password), the audit log every such change writes, and the Telegram updates that
could not be processed."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from crm import audit
from crm.audit import Actor
from crm.conversations import dead_letters, teams
from crm.models import User
from crm.schemas import MAX_ID
from crm.users import service as users
from crm.users.schemas import (
    AuditList,
    AuditRead,
    PasswordReset,
    PasswordResetResult,
    UserCreate,
    UserInvite,
    UserInvited,
    UserList,
    UserRead,
    UserUpdate,
)
from web.auth import AdminUser
from web.deps import PathId, SessionDep, StateDep
from web.errors import STAFF, error_responses
from web.params import RowId

router = APIRouter(prefix="/api/v1/admin", tags=["admin"], responses=error_responses(*STAFF))
BY_ID = error_responses(404)
CONFLICT = error_responses(404, 409)


def _read(user: User) -> UserRead:
    return UserRead.model_validate(user)


@router.get("/users", response_model=UserList)
def list_users(session: SessionDep, admin: AdminUser) -> UserList:
    """Every staff account, active ones first."""
    return UserList(users=[_read(u) for u in users.list_users(session)])


@router.post("/users", response_model=UserRead, status_code=201, responses=error_responses(409))
def create_user(
    body: UserCreate, session: SessionDep, state: StateDep, admin: AdminUser
) -> UserRead:
    """A new staff account (409 when the email exists, 422 when the password is weak)."""
    user = users.create_user(
        session,
        email=body.email,
        password=body.password,
        role=body.role,
        display_name=body.display_name,
        max_concurrent=body.max_concurrent,
        by=Actor.of(admin),
        gate=state.hash_gate,
    )
    session.commit()
    return _read(user)


@router.post("/users/invite", response_model=UserInvited, status_code=201, responses=CONFLICT)
def invite_user(
    body: UserInvite, session: SessionDep, state: StateDep, admin: AdminUser
) -> UserInvited:
    """A new account with a generated one-time password (returned once); the user chooses
    their own at the first sign-in. ``team_id`` puts an agent in a team at once."""
    if body.team_id is not None:
        teams.get_team(session, body.team_id)
    user, password = users.invite_user(
        session,
        email=body.email,
        role=body.role,
        display_name=body.display_name,
        max_concurrent=body.max_concurrent,
        by=Actor.of(admin),
        gate=state.hash_gate,
    )
    if body.team_id is not None:
        teams.set_member(session, team_id=body.team_id, user_id=user.id, by=Actor.of(admin))
    session.commit()
    return UserInvited(user=_read(user), one_time_password=password)


@router.get("/users/{user_id}", response_model=UserRead, responses=BY_ID)
def show_user(user_id: PathId, session: SessionDep, admin: AdminUser) -> UserRead:
    return _read(users.get_user(session, user_id))


@router.patch("/users/{user_id}", response_model=UserRead, responses=CONFLICT)
def update_user(
    user_id: PathId, body: UserUpdate, session: SessionDep, admin: AdminUser
) -> UserRead:
    """Change role, display name or capacity (the last active admin keeps the role)."""
    user = users.update_user(
        session,
        user=users.get_user(session, user_id),
        by=Actor.of(admin),
        role=body.role,
        display_name=body.display_name,
        max_concurrent=body.max_concurrent,
    )
    session.commit()
    return _read(user)


@router.post("/users/{user_id}/disable", response_model=UserRead, responses=CONFLICT)
def disable_user(user_id: PathId, session: SessionDep, admin: AdminUser) -> UserRead:
    """Disable the account: its sessions end at once and its API tokens stop working."""
    user = users.set_active(
        session, user=users.get_user(session, user_id), active=False, by=Actor.of(admin)
    )
    session.commit()
    return _read(user)


@router.post("/users/{user_id}/enable", response_model=UserRead, responses=CONFLICT)
def enable_user(user_id: PathId, session: SessionDep, admin: AdminUser) -> UserRead:
    user = users.set_active(
        session, user=users.get_user(session, user_id), active=True, by=Actor.of(admin)
    )
    session.commit()
    return _read(user)


@router.post("/users/{user_id}/reset-password", response_model=PasswordResetResult, responses=BY_ID)
def reset_password(
    user_id: PathId, body: PasswordReset, session: SessionDep, state: StateDep, admin: AdminUser
) -> PasswordResetResult:
    """Set a new password (or generate a one-time one, returned once); the user's sessions
    end and they must choose their own password at the next sign-in."""
    user = users.get_user(session, user_id)
    generated = users.reset_password(
        session, user=user, by=Actor.of(admin), password=body.password, gate=state.hash_gate
    )
    session.commit()
    return PasswordResetResult(user=_read(user), one_time_password=generated)


@router.get("/audit", response_model=AuditList)
def audit_log(
    session: SessionDep,
    admin: AdminUser,
    target: Annotated[str | None, Query(max_length=100, description="e.g. user:12")] = None,
    action: Annotated[str | None, Query(max_length=40, description="e.g. user.disable")] = None,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AuditList:
    """Administrative changes, newest first (who, what, target, when, details)."""
    rows = audit.entries(session, target=target, action=action, before_id=before_id, limit=limit)
    return AuditList(
        entries=[AuditRead.model_validate(r) for r in rows],
        next_before_id=rows[-1].id if len(rows) == limit else None,
    )


class DeadLetterRead(BaseModel):
    """A Telegram update that could not be processed (kept, acknowledged, not retried)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    received_at: dt.datetime
    update_id: int | None
    error: str = Field(description="The error's class and message.")
    payload: str = Field(description="The update as sent, as JSON text (non-ASCII escaped).")


class DeadLetterList(BaseModel):
    dead_letters: list[DeadLetterRead]
    next_before_id: int | None = Field(
        description="Pass as before_id for the next (older) page; null on the last page."
    )


@router.get("/telegram/dead-letters", response_model=DeadLetterList)
def telegram_dead_letters(
    session: SessionDep,
    admin: AdminUser,
    before_id: Annotated[RowId | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> DeadLetterList:
    """Telegram updates that could not be processed, newest first."""
    rows = dead_letters.recent(session, limit=limit, before_id=before_id)
    return DeadLetterList(
        dead_letters=[DeadLetterRead.model_validate(r) for r in rows],
        next_before_id=rows[-1].id if len(rows) == limit else None,
    )
