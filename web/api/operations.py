"""Service operations API: teams and SLA policies (admins), do-not-contact entries
(agents, marketers, admins), bot quality analytics and the conversation export
(marketers and admins)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from careloop.errors import NotFound, ValidationFailed
from crm.conversations import quality, teams
from crm.customers import service as customers
from crm.db import READ_ONLY, utcnow
from crm.models import BlockReason, ContactBlock, Role, User
from web.auth import require_roles
from web.deps import SessionDep, StateDep
from web.params import RowId

router = APIRouter(prefix="/api/v1", tags=["operations"])
AdminUser = Annotated[User, Depends(require_roles())]
AnalystUser = Annotated[User, Depends(require_roles(Role.marketer))]
StaffUser = Annotated[User, Depends(require_roles(Role.agent, Role.marketer))]


class MemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: RowId


class BlockIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: str = "any"
    note: Annotated[str | None, Field(max_length=300)] = None


# -- teams and SLA policies -------------------------------------------------------------


@router.get("/teams")
def list_teams(session: SessionDep, user: AdminUser) -> dict[str, Any]:
    return {"teams": [teams.team_dict(t) for t in teams.list_teams(session)]}


@router.post("/teams", status_code=201)
def create_team(body: dict[str, Any], session: SessionDep, user: AdminUser) -> dict[str, Any]:
    """``{"name", "business_hours": "mon-fri 09:00-18:00", "timezone", "holidays": [ISO
    dates], "intents": [routed intents]}``"""
    team = teams.save_team(session, body)
    session.commit()
    return teams.team_dict(team)


@router.patch("/teams/{team_id}")
def update_team(
    team_id: RowId, body: dict[str, Any], session: SessionDep, user: AdminUser
) -> dict[str, Any]:
    team = teams.save_team(session, body, teams.get_team(session, team_id))
    session.commit()
    return teams.team_dict(team)


@router.post("/teams/{team_id}/members")
def add_member(
    team_id: RowId, body: MemberIn, session: SessionDep, user: AdminUser
) -> dict[str, Any]:
    member = teams.set_member(session, team_id=team_id, user_id=body.user_id)
    session.commit()
    return {"user_id": member.id, "team_id": member.team_id}


@router.delete("/teams/{team_id}/members/{user_id}")
def remove_member(
    team_id: RowId, user_id: RowId, session: SessionDep, user: AdminUser
) -> dict[str, Any]:
    teams.get_team(session, team_id)
    member = teams.set_member(session, team_id=None, user_id=user_id)
    session.commit()
    return {"user_id": member.id, "team_id": None}


@router.get("/sla-policies")
def list_policies(session: SessionDep, user: AdminUser) -> dict[str, Any]:
    return {"policies": [teams.policy_dict(p) for p in teams.list_policies(session)]}


@router.put("/sla-policies/default")
def set_default_policy(
    body: dict[str, Any], session: SessionDep, user: AdminUser
) -> dict[str, Any]:
    """The policy for conversations without a team."""
    policy = teams.save_policy(session, team_id=None, data=body)
    session.commit()
    return teams.policy_dict(policy)


@router.put("/teams/{team_id}/sla-policy")
def set_team_policy(
    team_id: RowId, body: dict[str, Any], session: SessionDep, user: AdminUser
) -> dict[str, Any]:
    """``{"first_response_minutes", "resolution_minutes", "business_hours_only",
    "urgent_priority", "urgent_factor", "at_risk_percent"}``"""
    policy = teams.save_policy(session, team_id=team_id, data=body)
    session.commit()
    return teams.policy_dict(policy)


# -- do not contact ---------------------------------------------------------------------


def _block(b: ContactBlock) -> dict[str, Any]:
    return {
        "id": b.id,
        "channel": b.channel,
        "reason": b.reason.value,
        "note": b.note,
        "created_by_id": b.created_by_id,
        "created_at": b.created_at.isoformat(),
    }


@router.get("/customers/{customer_id}/contact-blocks")
def list_blocks(customer_id: RowId, session: SessionDep, user: StaffUser) -> dict[str, Any]:
    customers.get_customer(session, customer_id)
    return {"blocks": [_block(b) for b in customers.blocks(session, customer_id=customer_id)]}


@router.post("/customers/{customer_id}/contact-blocks", status_code=201)
def add_block(
    customer_id: RowId, body: BlockIn, session: SessionDep, user: StaffUser
) -> dict[str, Any]:
    """Staff: no marketing to this customer on ``channel`` (or on any)."""
    customers.get_customer(session, customer_id)
    block = customers.add_block(
        session,
        customer_id=customer_id,
        channel=body.channel,
        reason=BlockReason.manual,
        note=body.note,
        by=user.id,
    )
    session.commit()
    return _block(block)


@router.delete("/customers/{customer_id}/contact-blocks/{block_id}")
def remove_block(
    customer_id: RowId, block_id: RowId, session: SessionDep, user: StaffUser
) -> dict[str, Any]:
    """Lift a manual entry (opt-outs end when the customer opts in; a blocked bot when the
    customer writes again)."""
    block = session.get(ContactBlock, block_id)
    if block is None or block.customer_id != customer_id:
        raise NotFound(f"contact block {block_id} not found")
    if block.reason is not BlockReason.manual:
        raise ValidationFailed(f"a {block.reason.value} entry is lifted by the customer")
    session.delete(block)
    session.commit()
    return {"deleted": block_id}


# -- bot quality and the conversation export ----------------------------------------------


def filters(
    start: Annotated[dt.date | None, Query(description="first day (default: 30 days ago)")] = None,
    end: Annotated[dt.date | None, Query(description="last day, included (default: today)")] = None,
    team_id: RowId | None = None,
    agent_id: RowId | None = None,
    segment: str | None = None,
    intent: str | None = None,
    reason: str | None = None,
    escalated: bool | None = None,
    contained: bool | None = None,
    not_sure: bool | None = None,
    corrected: str | None = None,
    sla_missed: bool | None = None,
    csat: str | None = None,
    first_response: str | None = None,
    resolution: str | None = None,
) -> quality.Filters:
    end = end or utcnow().date()
    return quality.Filters(
        start=start or end - dt.timedelta(days=29),
        end=end,
        team_id=team_id,
        agent_id=agent_id,
        segment=segment,
        intent=intent,
        reason=reason,
        escalated=escalated,
        contained=contained,
        not_sure=not_sure,
        corrected=corrected,
        sla_missed=sla_missed,
        csat=csat,
        first_response=first_response,
        resolution=resolution,
    )


FiltersDep = Annotated[quality.Filters, Depends(filters)]


@router.get("/analytics/quality")
def quality_report(session: SessionDep, user: AnalystUser, f: FiltersDep) -> dict[str, Any]:
    """Containment, handoff by intent and reason, not-sure rate, corrected intent pairs,
    CSAT bot-only vs human, first-response / resolution time buckets, SLA hit rates."""
    return quality.report(session, f)


@router.get("/conversations/export")
def export(
    session: SessionDep,
    state: StateDep,
    user: AnalystUser,
    f: FiltersDep,
    format: Annotated[str, Query(description="csv or jsonl")] = "csv",
) -> StreamingResponse:
    """One row per conversation, streamed (same filters as the quality report)."""
    if format not in ("csv", "jsonl"):
        raise ValidationFailed("format: csv or jsonl")
    session.close()  # the stream reads on its own read-only connection, in chunks
    write = quality.export_csv if format == "csv" else quality.export_jsonl

    def body() -> Iterator[str]:
        with state.session_factory() as reader:
            reader.connection(execution_options=READ_ONLY)  # SQLite: no write lock
            yield from write(reader, f)

    media = "text/csv" if format == "csv" else "application/x-ndjson"
    name = f"conversations-{f.start.isoformat()}-{f.end.isoformat()}.{format}"
    return StreamingResponse(
        body(),
        media_type=f"{media}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
