"""Request and response models of the staff-account API (``/api/v1/admin/users``,
``/api/v1/admin/audit``, ``/api/v1/account/password``)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from crm.models import Role

Password = Annotated[str, Field(min_length=1, max_length=1000)]
DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class UserRead(BaseModel):
    """A staff account (never its password hash)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    display_name: str
    role: Role
    is_active: bool
    password_change_required: bool
    max_concurrent: int
    team_id: int | None
    created_at: dt.datetime
    last_login_at: dt.datetime | None
    last_seen_at: dt.datetime | None


class UserList(BaseModel):
    users: list[UserRead]


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Annotated[str, StringConstraints(strip_whitespace=True, max_length=254)]
    password: Password = Field(
        description="At least 12 characters, not a common password, not containing the email."
    )
    role: Role
    display_name: DisplayName | None = None
    max_concurrent: Annotated[int, Field(ge=1, le=1000)] = 5


class UserInvite(BaseModel):
    """A new account whose one-time password is generated and returned once."""

    model_config = ConfigDict(extra="forbid")

    email: Annotated[str, StringConstraints(strip_whitespace=True, max_length=254)]
    role: Role
    display_name: DisplayName | None = None
    max_concurrent: Annotated[int, Field(ge=1, le=1000)] = 5
    team_id: int | None = Field(default=None, description="Put the agent in this team")


class UserUpdate(BaseModel):
    """Any of these; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    display_name: DisplayName | None = None
    max_concurrent: Annotated[int, Field(ge=1, le=1000)] | None = None


class PasswordReset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: Password | None = Field(
        default=None,
        description="The new password; left out, a one-time password is generated and "
        "returned once. Either way the user must choose their own at the next sign-in.",
    )


class PasswordResetResult(BaseModel):
    user: UserRead
    one_time_password: str | None = Field(
        description="The generated password (shown only in this answer), or null."
    )


class UserInvited(BaseModel):
    user: UserRead
    one_time_password: str = Field(
        description="Hand it to the new user; shown only in this answer. They choose their "
        "own password at the first sign-in."
    )


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: Password
    new_password: Password


class AuditRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: dt.datetime
    actor_id: int | None
    actor: str
    action: str
    target: str
    details: dict[str, Any]


class AuditList(BaseModel):
    entries: list[AuditRead]
    next_before_id: int | None = Field(
        description="Pass as before_id for the next (older) page; null on the last page."
    )
