"""The agents' inbox API (agents and admins; marketers get 403 and never see transcripts)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm.conversations import inbox
from crm.db import session_scope
from crm.models import Campaign, Conversation, Message, Role, Team, User
from web.auth import AgentUser
from web.deps import SessionDep, StateDep
from web.params import Cursor, RowId

router = APIRouter(prefix="/api/v1/inbox", tags=["inbox"])
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class ReplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: Annotated[str, Field(min_length=1, max_length=inbox.MAX_REPLY_CHARS)]
    private: bool = False


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agent_id: RowId


class RelabelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    intent: Annotated[str, Field(min_length=1, max_length=64)]


class ReadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[RowId] | None = Field(default=None, max_length=1000)  # all unread when left out


def _row(row: inbox.QueueRow) -> dict[str, Any]:
    data = dataclasses.asdict(row)
    for key in ("escalated_at", "last_message_at", "sla_due_at"):
        data[key] = data[key].isoformat() if data[key] else None
    return data


def _message(m: Message, authors: dict[int, str]) -> dict[str, Any]:
    return {
        "id": m.id,
        "direction": m.direction.value,
        "sender": m.sender.value,
        "author": authors.get(m.author_user_id or 0),
        "text": m.text,
        "private": m.is_private_note,
        "intent": m.intent,
        "intent_confidence": m.intent_confidence,
        "corrected_intent": m.corrected_intent,
        "sentiment": m.sentiment,
        "sentiment_score": m.sentiment_score,
        "entities": [{"type": e.get("type"), "text": e.get("text")} for e in m.entities or []],
        "delivery_status": m.delivery_status.value if m.delivery_status else None,
        "created_at": m.created_at.isoformat(),
    }


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _conversation(c: Conversation, session: Session) -> dict[str, Any]:
    campaign = session.get(Campaign, c.campaign_id) if c.campaign_id else None
    team = session.get(Team, c.team_id) if c.team_id else None
    return {
        "id": c.id,
        "customer_id": c.customer_id,
        "channel": c.channel.value,
        "status": c.status.value,
        "priority": c.priority,
        "reason": c.escalation_reason,
        "assigned_agent_id": c.assigned_agent_id,
        "escalated_at": c.escalated_at.isoformat() if c.escalated_at else None,
        "resolved_at": c.resolved_at.isoformat() if c.resolved_at else None,
        "metrics": inbox.metrics(c),
        "team": {"id": team.id, "name": team.name} if team else None,
        "sla": {
            "state": c.sla_state,
            "first_response_due_at": _iso(c.first_response_due_at),
            "resolution_due_at": _iso(c.resolution_due_at),
            "first_response_hit": c.first_response_hit,
            "resolution_hit": c.resolution_hit,
        },
        # The campaign this conversation answers (reply-to-offer): agents see the context.
        "campaign": {"id": campaign.id, "name": campaign.name, "template": campaign.template}
        if campaign
        else None,
    }


@router.get("/conversations")
def list_conversations(
    session: SessionDep,
    user: AgentUser,
    view: Annotated[str, Query(description="queue, mine, unassigned, all or resolved")] = "queue",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[Cursor, Query()] = 0,
    sort: Annotated[str, Query(description="priority (default) or sla (due first)")] = "priority",
) -> dict[str, Any]:
    """Sorted by priority, then by how long the customer has waited (or by SLA due time)."""
    rows = inbox.queue(session, view=view, agent=user, limit=limit, offset=offset, sort=sort)
    return {"view": view, "sort": sort, "conversations": [_row(r) for r in rows]}


@router.get("/conversations/{conversation_id}")
def show_conversation(
    conversation_id: RowId, session: SessionDep, user: AgentUser
) -> dict[str, Any]:
    """The whole history (with NLU labels and private notes) and the customer 360."""
    conversation = inbox.get_conversation(session, conversation_id)
    messages = session.scalars(
        select(Message).where(Message.conversation_id == conversation.id).order_by(Message.id)
    ).all()
    author_ids = {m.author_user_id for m in messages if m.author_user_id}
    authors = {
        u.id: u.display_name for u in session.scalars(select(User).where(User.id.in_(author_ids)))
    }
    return {
        "conversation": _conversation(conversation, session),
        "messages": [_message(m, authors) for m in messages],
        "customer": inbox.customer_360(session, conversation.customer_id, exclude=conversation.id),
    }


@router.get("/intents")
def intents(state: StateDep, user: AgentUser) -> dict[str, Any]:
    """The intents a customer message can be relabelled to."""
    return {"intents": state.bot.intent_labels()}


@router.post("/messages/{message_id}/intent")
def relabel(
    message_id: RowId, body: RelabelIn, session: SessionDep, state: StateDep, user: AgentUser
) -> dict[str, Any]:
    """Correct the intent of a customer message (training data for `careloop nlu train`)."""
    message = inbox.relabel(
        session,
        message_id=message_id,
        intent=body.intent,
        agent=user,
        known=state.bot.intent_labels(),
    )
    session.commit()
    return {
        "id": message.id,
        "intent": message.intent,
        "corrected_intent": message.corrected_intent,
    }


@router.get("/notifications")
def notifications(
    session: SessionDep,
    user: AgentUser,
    unread: bool = True,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """SLA warnings for this agent, newest first."""
    items = inbox.notifications(session, user=user, unread_only=unread, limit=limit)
    return {
        "notifications": [
            {
                "id": n.id,
                "kind": n.kind,
                "text": n.text,
                "conversation_id": n.conversation_id,
                "created_at": n.created_at.isoformat(),
                "read": n.read_at is not None,
            }
            for n in items
        ]
    }


@router.post("/notifications/read")
def read_notifications(body: ReadIn, session: SessionDep, user: AgentUser) -> dict[str, Any]:
    marked = inbox.mark_read(session, user=user, ids=body.ids)
    session.commit()
    return {"marked": marked}


@router.post("/conversations/{conversation_id}/claim")
def claim(
    conversation_id: RowId, session: SessionDep, user: AgentUser, state: StateDep
) -> dict[str, Any]:
    """409 when another agent was faster."""
    session.commit()  # end the sign-in's read; the claim runs in a transaction of its own
    with session_scope(state.session_factory) as claim_session:
        conversation = inbox.claim(claim_session, conversation_id=conversation_id, agent=user)
        return {"conversation": _conversation(conversation, session)}


@router.post("/conversations/{conversation_id}/assign")
def assign(
    conversation_id: RowId, body: AssignIn, session: SessionDep, user: AgentUser
) -> dict[str, Any]:
    conversation = inbox.assign(
        session, conversation_id=conversation_id, agent_id=body.agent_id, by=user
    )
    session.commit()
    return {"conversation": _conversation(conversation, session)}


@router.post("/conversations/{conversation_id}/messages")
def reply(
    conversation_id: RowId, body: ReplyIn, session: SessionDep, user: AgentUser, state: StateDep
) -> dict[str, Any]:
    """Sent through the customer's own channel; ``private`` notes are never sent."""
    message = inbox.reply(
        session,
        conversation_id=conversation_id,
        agent=user,
        text=body.text,
        private=body.private,
    )
    session.commit()
    if state.telegram is not None and not body.private:
        state.telegram.sender.wake()
    return {"message": _message(message, {user.id: user.display_name})}


@router.post("/conversations/{conversation_id}/resolve")
def resolve(conversation_id: RowId, session: SessionDep, user: AgentUser) -> dict[str, Any]:
    conversation = inbox.resolve(session, conversation_id=conversation_id, agent=user)
    session.commit()
    return {"conversation": _conversation(conversation, session)}


@router.post("/conversations/{conversation_id}/reopen")
def reopen(conversation_id: RowId, session: SessionDep, user: AgentUser) -> dict[str, Any]:
    conversation = inbox.reopen(session, conversation_id=conversation_id, agent=user)
    session.commit()
    return {"conversation": _conversation(conversation, session)}


@router.get("/agents")
def agents(session: SessionDep, user: AgentUser) -> dict[str, Any]:
    rows = session.scalars(
        select(User)
        .where(User.is_active.is_(True), User.role.in_((Role.agent, Role.admin)))
        .order_by(User.display_name)
    ).all()
    return {"agents": [{"id": u.id, "name": u.display_name, "role": u.role.value} for u in rows]}


@router.get("/events")
async def events(
    request: Request, state: StateDep, session: SessionDep, user: AgentUser
) -> StreamingResponse:
    """Server-sent events: ``event: changed`` with the ids of conversations that changed
    (arrived, claimed, assigned, resolved or got a message); clients refetch."""
    # The stream outlives the request's session; end its transaction now rather than
    # holding it (and SQLite's lock or a WAL snapshot) for as long as the page is open.
    session.close()

    def snapshot(since: dt.datetime | None) -> tuple[dt.datetime, list[int]]:
        with session_scope(state.session_factory) as session:
            newest = session.scalar(select(func.max(Conversation.updated_at))) or EPOCH
            if since is None or newest <= since:
                return newest, []
            ids = list(
                session.scalars(
                    select(Conversation.id)
                    .where(Conversation.updated_at > since)
                    .order_by(Conversation.id)
                    .limit(200)
                )
            )
            return newest, ids

    async def stream() -> AsyncIterator[str]:
        since, _ = await run_in_threadpool(snapshot, None)
        yield ": inbox events\n\n"
        while not await request.is_disconnected():
            await asyncio.sleep(1.0)
            since, ids = await run_in_threadpool(snapshot, since)
            if ids:
                yield f"event: changed\ndata: {json.dumps({'ids': ids})}\n\n"
            else:
                yield ": keep-alive\n\n"

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
    )
