"""Service operations API: teams and SLA policies (admins), do-not-contact entries
(agents, marketers, admins), bot quality analytics and the conversation export
(marketers and admins)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from careloop.errors import NotFound, ValidationFailed
from crm.audit import Actor
from crm.conversations import quality, teams
from crm.conversations.schemas import (
    MemberIn,
    Membership,
    PolicyList,
    PolicyRead,
    PolicyWrite,
    QualityReport,
    TeamList,
    TeamMember,
    TeamRead,
    TeamWrite,
)
from crm.customers import privacy
from crm.customers import service as customers
from crm.customers.schemas import (
    ContactBlockDeleted,
    ContactBlockList,
    ContactBlockRead,
    MaskedTranscript,
)
from crm.db import READ_ONLY, utcnow
from crm.models import BlockReason, ContactBlock, Role, Team, User
from web.auth import require_roles
from web.deps import BotDep, PathId, QueryId, SessionDep, StateDep, report_period
from web.errors import STAFF, error_responses

router = APIRouter(prefix="/api/v1", tags=["operations"], responses=error_responses(*STAFF))
BY_ID = error_responses(404)
CONFLICT = error_responses(404, 409)
AdminUser = Annotated[User, Depends(require_roles())]
AnalystUser = Annotated[User, Depends(require_roles(Role.marketer))]
StaffUser = Annotated[User, Depends(require_roles(Role.agent, Role.marketer))]


class BlockIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: str = "any"
    note: Annotated[str | None, Field(max_length=300)] = None


# -- teams and SLA policies (every change is written to the audit log) --------------------


def _team(session: Session, team: Team) -> TeamRead:
    members = [TeamMember.model_validate(u) for u in teams.members(session, team.id)]
    return TeamRead(**teams.team_dict(team), members=members)


@router.get("/teams", response_model=TeamList)
def list_teams(session: SessionDep, user: AdminUser) -> TeamList:
    """Teams with their hours, holidays, routed intents and members."""
    return TeamList(teams=[_team(session, t) for t in teams.list_teams(session)])


@router.post("/teams", status_code=201, response_model=TeamRead, responses=error_responses(409))
def create_team(body: TeamWrite, session: SessionDep, user: AdminUser) -> TeamRead:
    """A team: ``name``, ``business_hours`` ("mon-fri 09:00-18:00"), ``timezone``,
    ``holidays`` (ISO dates) and ``intents`` (escalations routed to it)."""
    team = teams.save_team(session, body.model_dump(exclude_unset=True), by=Actor.of(user))
    session.commit()
    return _team(session, team)


@router.get("/teams/{team_id}", response_model=TeamRead, responses=BY_ID)
def show_team(team_id: PathId, session: SessionDep, user: AdminUser) -> TeamRead:
    return _team(session, teams.get_team(session, team_id))


@router.patch("/teams/{team_id}", response_model=TeamRead, responses=CONFLICT)
def update_team(team_id: PathId, body: TeamWrite, session: SessionDep, user: AdminUser) -> TeamRead:
    team = teams.save_team(
        session,
        body.model_dump(exclude_unset=True),
        teams.get_team(session, team_id),
        by=Actor.of(user),
    )
    session.commit()
    return _team(session, team)


@router.delete("/teams/{team_id}", status_code=204, responses=BY_ID)
def delete_team(team_id: PathId, session: SessionDep, user: AdminUser) -> Response:
    """Remove a team; its members stay, without a team."""
    teams.delete_team(session, team=teams.get_team(session, team_id), by=Actor.of(user))
    session.commit()
    return Response(status_code=204)


@router.post("/teams/{team_id}/members", response_model=Membership, responses=BY_ID)
def add_member(team_id: PathId, body: MemberIn, session: SessionDep, user: AdminUser) -> Membership:
    member = teams.set_member(session, team_id=team_id, user_id=body.user_id, by=Actor.of(user))
    session.commit()
    return Membership(user_id=member.id, team_id=member.team_id)


@router.delete("/teams/{team_id}/members/{user_id}", response_model=Membership, responses=BY_ID)
def remove_member(
    team_id: PathId, user_id: PathId, session: SessionDep, user: AdminUser
) -> Membership:
    teams.get_team(session, team_id)
    member = teams.set_member(session, team_id=None, user_id=user_id, by=Actor.of(user))
    session.commit()
    return Membership(user_id=member.id, team_id=None)


@router.get("/sla-policies", response_model=PolicyList)
def list_policies(session: SessionDep, user: AdminUser) -> PolicyList:
    return PolicyList(policies=[PolicyRead.model_validate(p) for p in teams.list_policies(session)])


@router.put("/sla-policies/default", response_model=PolicyRead)
def set_default_policy(body: PolicyWrite, session: SessionDep, user: AdminUser) -> PolicyRead:
    """The policy for conversations without a team."""
    policy = teams.save_policy(
        session, team_id=None, data=body.model_dump(exclude_unset=True), by=Actor.of(user)
    )
    session.commit()
    return PolicyRead.model_validate(policy)


@router.put("/teams/{team_id}/sla-policy", response_model=PolicyRead, responses=BY_ID)
def set_team_policy(
    team_id: PathId, body: PolicyWrite, session: SessionDep, user: AdminUser
) -> PolicyRead:
    """``first_response_minutes``, ``resolution_minutes``, ``business_hours_only``,
    ``urgent_priority``, ``urgent_factor``, ``at_risk_percent``."""
    policy = teams.save_policy(
        session, team_id=team_id, data=body.model_dump(exclude_unset=True), by=Actor.of(user)
    )
    session.commit()
    return PolicyRead.model_validate(policy)


# -- do not contact ---------------------------------------------------------------------


def _block(b: ContactBlock) -> ContactBlockRead:
    return ContactBlockRead(
        id=b.id,
        channel=b.channel,
        reason=b.reason.value,
        note=b.note,
        created_by_id=b.created_by_id,
        created_at=b.created_at,
    )


@router.get("/customers/{customer_id}/contact-blocks", responses=BY_ID)
def list_blocks(customer_id: PathId, session: SessionDep, user: StaffUser) -> ContactBlockList:
    customers.get_customer(session, customer_id)
    return ContactBlockList(
        blocks=[_block(b) for b in customers.blocks(session, customer_id=customer_id)]
    )


@router.post("/customers/{customer_id}/contact-blocks", status_code=201, responses=BY_ID)
def add_block(
    customer_id: PathId, body: BlockIn, session: SessionDep, user: StaffUser
) -> ContactBlockRead:
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


@router.delete("/customers/{customer_id}/contact-blocks/{block_id}", responses=BY_ID)
def remove_block(
    customer_id: PathId, block_id: PathId, session: SessionDep, user: StaffUser
) -> ContactBlockDeleted:
    """Lift a manual entry (opt-outs end when the customer opts in; a blocked bot when the
    customer writes again)."""
    block = session.get(ContactBlock, block_id)
    if block is None or block.customer_id != customer_id:
        raise NotFound(f"contact block {block_id} not found")
    if block.reason is not BlockReason.manual:
        raise ValidationFailed(f"a {block.reason.value} entry is lifted by the customer")
    session.delete(block)
    session.commit()
    return ContactBlockDeleted(deleted=block_id)


# -- bot quality and the conversation export ----------------------------------------------


def filters(
    start: Annotated[dt.date | None, Query(description="first day (default: 30 days ago)")] = None,
    end: Annotated[dt.date | None, Query(description="last day, included (default: today)")] = None,
    team_id: QueryId = None,
    agent_id: QueryId = None,
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
    start, end = report_period(start, end, today=utcnow().date(), days=30)
    return quality.Filters(
        start=start,
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
def quality_report(session: SessionDep, user: AnalystUser, f: FiltersDep) -> QualityReport:
    """Containment, handoff by intent and reason, not-sure rate, corrected intent pairs,
    CSAT bot-only vs human, first-response / resolution time buckets, SLA hit rates."""
    return QualityReport.model_validate(quality.report(session, f))


@router.get("/analytics/conversations/{conversation_id}/transcript", responses=BY_ID)
def masked_transcript(
    conversation_id: PathId, session: SessionDep, bot: BotDep, user: AnalystUser
) -> MaskedTranscript:
    """A conversation read-only, as marketers may read it: emails, phones and order numbers
    masked, no private notes, the customer by first name (the drill-down's link target)."""
    extractor = bot.extractor

    def mask(text: str) -> str:
        found = [(e.type, e.text) for e in extractor.extract(text)]
        return privacy.mask_text(text, found)

    return MaskedTranscript.model_validate(
        privacy.masked_transcript(session, conversation_id, mask)
    )


@router.get(
    "/conversations/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "CSV (a header, then a row per conversation) or JSON lines",
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/x-ndjson": {"schema": {"type": "string"}},
            },
        }
    },
)
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
