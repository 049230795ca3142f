"""Request and response models of the teams and SLA-policy API. The ranges and formats
(business hours, time zones, ISO dates, minutes) are checked by ``teams``, whose
messages name the bad field."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt


class TeamWrite(BaseModel):
    """A new team (``name`` required) or a change (fields left out stay as they are)."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(max_length=200)] | None = None
    business_hours: Annotated[str, Field(max_length=200)] | None = Field(
        default=None, description="e.g. 'mon-fri 09:00-18:00, sat 10:00-14:00'; empty: always"
    )
    timezone: Annotated[str, Field(max_length=64)] | None = Field(
        default=None, description="IANA name, e.g. Europe/Berlin"
    )
    holidays: list[Annotated[str, Field(max_length=10)]] | None = Field(
        default=None, description="ISO dates (YYYY-MM-DD) when the team is closed"
    )
    intents: list[Annotated[str, Field(max_length=64)]] | None = Field(
        default=None, description="Escalations with these intents go to this team first"
    )


class TeamMember(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    display_name: str
    is_active: bool
    max_concurrent: int


class TeamRead(BaseModel):
    id: int
    name: str
    business_hours: str
    timezone: str
    holidays: list[str]
    intents: list[str]
    members: list[TeamMember]


class TeamList(BaseModel):
    teams: list[TeamRead]


class MemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: int


class Membership(BaseModel):
    user_id: int
    team_id: int | None


class PolicyWrite(BaseModel):
    """An SLA policy; both ``*_minutes`` are required for a new one."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(max_length=100)] | None = None
    first_response_minutes: StrictInt | None = None
    resolution_minutes: StrictInt | None = None
    business_hours_only: StrictBool | None = None
    urgent_priority: StrictInt | None = None
    urgent_factor: StrictFloat | StrictInt | None = None
    at_risk_percent: StrictInt | None = None


class PolicyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    team_id: int | None
    name: str
    first_response_minutes: int
    resolution_minutes: int
    business_hours_only: bool
    urgent_priority: int
    urgent_factor: float
    at_risk_percent: int


class PolicyList(BaseModel):
    policies: list[PolicyRead]
