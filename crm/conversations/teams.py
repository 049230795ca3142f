"""Teams (business hours, holidays, routed intents), their members and SLA policies."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from careloop.errors import Conflict, NotFound, ValidationFailed
from crm import audit
from crm.audit import Actor
from crm.conversations.sla import Calendar
from crm.models import Role, SlaPolicy, Team, User

TEAM_FIELDS = ("name", "business_hours", "timezone", "holidays", "intents")
POLICY_FIELDS = (
    "name",
    "first_response_minutes",
    "resolution_minutes",
    "business_hours_only",
    "urgent_priority",
    "urgent_factor",
    "at_risk_percent",
)


def _clean_team(data: dict[str, Any], team: Team | None) -> dict[str, Any]:
    unknown = set(data) - set(TEAM_FIELDS)
    if unknown:
        raise ValidationFailed(f"unknown field(s): {', '.join(sorted(unknown))}")
    out: dict[str, Any] = {}
    if "name" in data or team is None:
        name = str(data.get("name") or "").strip()
        if not 1 <= len(name) <= 100:
            raise ValidationFailed("name: 1 to 100 characters")
        out["name"] = name
    for key in ("business_hours", "timezone"):
        if key in data:
            out[key] = str(data[key] or "").strip()
    for key in ("holidays", "intents"):
        if key in data:
            value = data[key] or []
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValidationFailed(f"{key}: a list of strings")
            out[key] = sorted({v.strip() for v in value if v.strip()})
    hours = out.get("business_hours", team.business_hours if team else "")
    timezone = out.get("timezone", team.timezone if team else "UTC") or "UTC"
    holidays = out.get("holidays", team.holidays if team else [])
    Calendar.build(hours, timezone, holidays)  # refuses bad hours, zones and dates
    out["timezone"] = timezone
    return out


def list_teams(session: Session) -> list[Team]:
    return list(session.scalars(select(Team).order_by(Team.name)))


def get_team(session: Session, team_id: int) -> Team:
    team = session.get(Team, team_id)
    if team is None:
        raise NotFound(f"team {team_id} not found")
    return team


def save_team(
    session: Session, data: dict[str, Any], team: Team | None = None, *, by: Actor | None = None
) -> Team:
    """Create a team, or change ``team``; the name is unique. With ``by`` the change is
    written to the audit log (field → [old, new])."""
    values = _clean_team(data, team)
    created = team is None
    changes: dict[str, Any] = {}
    if team is None:
        team = Team(**values)
        session.add(team)
        changes = dict(values)
    else:
        for key, value in values.items():
            if getattr(team, key) != value:
                changes[key] = [getattr(team, key), value]
            setattr(team, key, value)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(f"a team named {values.get('name')!r} exists") from None
    if by is not None and (created or changes):
        action = "team.create" if created else "team.update"
        audit.record(session, by=by, action=action, target=f"team:{team.id}", details=changes)
    return team


def delete_team(session: Session, *, team: Team, by: Actor) -> None:
    """Remove a team: its members keep working without a team, its SLA policy goes and
    its conversations fall back to the default policy."""
    members = list(session.scalars(select(User).where(User.team_id == team.id)))
    for member in members:
        member.team_id = None
    audit.record(
        session,
        by=by,
        action="team.delete",
        target=f"team:{team.id}",
        details={"name": team.name, "members": [m.id for m in members]},
    )
    session.delete(team)
    session.flush()


def members(session: Session, team_id: int) -> list[User]:
    return list(session.scalars(select(User).where(User.team_id == team_id).order_by(User.email)))


def set_member(
    session: Session, *, team_id: int | None, user_id: int, by: Actor | None = None
) -> User:
    """Put an agent in a team (``team_id`` None: no team); audited with ``by``."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    if user.role not in (Role.agent, Role.admin):
        raise ValidationFailed("only agents and admins belong to teams")
    if team_id is not None:
        get_team(session, team_id)
    before = user.team_id
    user.team_id = team_id
    session.flush()
    if by is not None and before != team_id:
        audit.record(
            session,
            by=by,
            action="user.team",
            target=f"user:{user.id}",
            details={"team_id": [before, team_id]},
        )
    return user


def _clean_policy(data: dict[str, Any], policy: SlaPolicy | None) -> dict[str, Any]:
    unknown = set(data) - set(POLICY_FIELDS)
    if unknown:
        raise ValidationFailed(f"unknown field(s): {', '.join(sorted(unknown))}")
    out: dict[str, Any] = {}
    limits = {
        "first_response_minutes": (1, 60 * 24 * 30),
        "resolution_minutes": (1, 60 * 24 * 90),
        "urgent_priority": (0, 1000),
        "at_risk_percent": (1, 99),
    }
    for key, (low, high) in limits.items():
        if key in data:
            value = data[key]
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise ValidationFailed(f"{key}: a whole number from {low} to {high}")
            out[key] = value
        elif policy is None and key.endswith("_minutes"):
            raise ValidationFailed(f"{key} is required")
    if "urgent_factor" in data:
        factor = data["urgent_factor"]
        if not isinstance(factor, int | float) or isinstance(factor, bool) or not 0 < factor <= 1:
            raise ValidationFailed("urgent_factor: more than 0, at most 1")
        out["urgent_factor"] = float(factor)
    if "business_hours_only" in data:
        if not isinstance(data["business_hours_only"], bool):
            raise ValidationFailed("business_hours_only: true or false")
        out["business_hours_only"] = data["business_hours_only"]
    if "name" in data or policy is None:
        out["name"] = str(data.get("name") or "SLA").strip()[:100] or "SLA"
    first = out.get("first_response_minutes", policy.first_response_minutes if policy else 0)
    resolution = out.get("resolution_minutes", policy.resolution_minutes if policy else 0)
    if resolution < first:
        raise ValidationFailed("resolution_minutes must not be shorter than first_response_minutes")
    return out


def list_policies(session: Session) -> list[SlaPolicy]:
    return list(session.scalars(select(SlaPolicy).order_by(SlaPolicy.team_id, SlaPolicy.id)))


def save_policy(
    session: Session, *, team_id: int | None, data: dict[str, Any], by: Actor | None = None
) -> SlaPolicy:
    """Set the team's SLA policy (``team_id`` None: the default policy); audited with
    ``by`` (field → [old, new])."""
    if team_id is not None:
        get_team(session, team_id)
    query = select(SlaPolicy).where(
        SlaPolicy.team_id == team_id if team_id is not None else SlaPolicy.team_id.is_(None)
    )
    policy = session.scalars(query.order_by(SlaPolicy.id)).first()
    values = _clean_policy(data, policy)
    changes: dict[str, Any] = {}
    if policy is None:
        policy = SlaPolicy(team_id=team_id, **values)
        session.add(policy)
        changes = dict(values)
    else:
        for key, value in values.items():
            if getattr(policy, key) != value:
                changes[key] = [getattr(policy, key), value]
            setattr(policy, key, value)
    session.flush()
    if by is not None and changes:
        target = f"team:{team_id}" if team_id is not None else "sla:default"
        audit.record(session, by=by, action="sla.update", target=target, details=changes)
    return policy


def policy_dict(policy: SlaPolicy) -> dict[str, Any]:
    return {"id": policy.id, "team_id": policy.team_id} | {
        key: getattr(policy, key) for key in POLICY_FIELDS
    }


def team_dict(team: Team) -> dict[str, Any]:
    return {"id": team.id} | {key: getattr(team, key) for key in TEAM_FIELDS}
