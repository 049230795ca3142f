"""The agents' inbox API (agents and admins; marketers get 403 and never see transcripts)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm.conversations import inbox
from crm.conversations.routing import Office
from crm.conversations.schemas import (
    AgentCapacity,
    AgentList,
    AgentRead,
    CampaignRef,
    ConversationDetail,
    ConversationEnvelope,
    ConversationMetrics,
    EntityRef,
    InboxConversation,
    InboxMessage,
    IntentList,
    MarkedRead,
    MessageEnvelope,
    NotificationList,
    NotificationRead,
    QueueRead,
    QueueRowRead,
    RelabelRead,
    SlaRead,
    TeamRef,
)
from crm.customers.profile import customer_profile
from crm.customers.schemas import Customer360
from crm.db import session_scope
from crm.events import INBOX
from crm.models import Campaign, Conversation, Message, Role, Team, User
from crm.schemas import MAX_ID, RowId
from web.auth import AgentUser
from web.deps import PathId, SessionDep, StateDep
from web.errors import STAFF, error_responses

router = APIRouter(prefix="/api/v1/inbox", tags=["inbox"], responses=error_responses(*STAFF))
BY_ID = error_responses(404)
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
    ids: list[RowId] | None = None  # all unread when left out


def _row(row: inbox.QueueRow, other_open: list[int]) -> QueueRowRead:
    return QueueRowRead.model_validate({**dataclasses.asdict(row), "other_open": other_open})


def _message(m: Message, authors: dict[int, str]) -> InboxMessage:
    return InboxMessage(
        id=m.id,
        direction=m.direction.value,
        sender=m.sender.value,
        author=authors.get(m.author_user_id or 0),
        text=m.text,
        private=m.is_private_note,
        intent=m.intent,
        intent_confidence=m.intent_confidence,
        corrected_intent=m.corrected_intent,
        sentiment=m.sentiment,
        sentiment_score=m.sentiment_score,
        entities=[EntityRef(type=e.get("type"), text=e.get("text")) for e in m.entities or []],
        delivery_status=m.delivery_status.value if m.delivery_status else None,
        created_at=m.created_at,
    )


def _conversation(c: Conversation, session: Session) -> InboxConversation:
    campaign = session.get(Campaign, c.campaign_id) if c.campaign_id else None
    team = session.get(Team, c.team_id) if c.team_id else None
    others = inbox.other_open(session, [c.customer_id]).get(c.customer_id, [])
    return InboxConversation(
        id=c.id,
        customer_id=c.customer_id,
        # The same customer's other conversations open with the agents.
        other_open=[i for i in others if i != c.id],
        channel=c.channel.value,
        status=c.status.value,
        priority=c.priority,
        reason=c.escalation_reason,
        language=c.language,
        assigned_agent_id=c.assigned_agent_id,
        escalated_at=c.escalated_at,
        resolved_at=c.resolved_at,
        metrics=ConversationMetrics.model_validate(inbox.metrics(c)),
        team=TeamRef(id=team.id, name=team.name) if team else None,
        sla=SlaRead(
            state=c.sla_state,
            first_response_due_at=c.first_response_due_at,
            resolution_due_at=c.resolution_due_at,
            first_response_hit=c.first_response_hit,
            resolution_hit=c.resolution_hit,
        ),
        # The campaign this conversation answers (reply-to-offer): agents see the context.
        campaign=CampaignRef(id=campaign.id, name=campaign.name, template=campaign.template)
        if campaign
        else None,
    )


@router.get("/conversations")
def list_conversations(
    session: SessionDep,
    user: AgentUser,
    view: Annotated[str, Query(description="queue, mine, unassigned, all or resolved")] = "queue",
    limit: Annotated[int, Query(ge=1, description="at most 200 are returned")] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    sort: Annotated[str, Query(description="priority (default) or sla (due first)")] = "priority",
) -> QueueRead:
    """Sorted by priority, then by how long the customer has waited (or by SLA due time)."""
    rows = inbox.queue(session, view=view, agent=user, limit=limit, offset=offset, sort=sort)
    open_by_customer = inbox.other_open(session, {r.customer_id for r in rows})
    return QueueRead(
        view=view,
        sort=sort,
        conversations=[
            _row(r, [i for i in open_by_customer.get(r.customer_id, []) if i != r.id]) for r in rows
        ],
        capacity=AgentCapacity.model_validate(inbox.capacity(session, user)),
    )


@router.get("/conversations/{conversation_id}", responses=BY_ID)
def show_conversation(
    conversation_id: PathId, session: SessionDep, user: AgentUser
) -> ConversationDetail:
    """The whole history (with NLU labels and private notes) and the customer 360."""
    conversation = inbox.get_conversation(session, conversation_id)
    messages = session.scalars(
        select(Message).where(Message.conversation_id == conversation.id).order_by(Message.id)
    ).all()
    author_ids = {m.author_user_id for m in messages if m.author_user_id}
    authors = {
        u.id: u.display_name for u in session.scalars(select(User).where(User.id.in_(author_ids)))
    }
    return ConversationDetail(
        conversation=_conversation(conversation, session),
        messages=[_message(m, authors) for m in messages],
        customer=Customer360.model_validate(
            customer_profile(
                session,
                conversation.customer_id,
                exclude_conversation=conversation.id,
                brief=True,
            )
        ),
    )


@router.get("/intents")
def intents(state: StateDep, user: AgentUser) -> IntentList:
    """The intents a customer message can be relabelled to."""
    return IntentList(intents=list(state.bot.intent_labels()))


@router.post("/messages/{message_id}/intent", responses=BY_ID)
def relabel(
    message_id: PathId, body: RelabelIn, session: SessionDep, state: StateDep, user: AgentUser
) -> RelabelRead:
    """Correct the intent of a customer message (training data for `careloop nlu train`)."""
    message = inbox.relabel(
        session,
        message_id=message_id,
        intent=body.intent,
        agent=user,
        known=state.bot.intent_labels(),
    )
    session.commit()
    return RelabelRead(
        id=message.id, intent=message.intent, corrected_intent=message.corrected_intent
    )


@router.get("/notifications")
def notifications(
    session: SessionDep,
    user: AgentUser,
    unread: bool = True,
    limit: Annotated[int, Query(ge=1, description="at most 200 are returned")] = 50,
) -> NotificationList:
    """SLA warnings for this agent, newest first."""
    items = inbox.notifications(session, user=user, unread_only=unread, limit=min(limit, 200))
    return NotificationList(
        notifications=[
            NotificationRead(
                id=n.id,
                kind=n.kind,
                text=n.text,
                conversation_id=n.conversation_id,
                created_at=n.created_at,
                read=n.read_at is not None,
            )
            for n in items
        ]
    )


@router.post("/notifications/read")
def read_notifications(body: ReadIn, session: SessionDep, user: AgentUser) -> MarkedRead:
    marked = inbox.mark_read(session, user=user, ids=body.ids)
    session.commit()
    return MarkedRead(marked=marked)


@router.post("/conversations/{conversation_id}/claim", responses=error_responses(404, 409))
def claim(conversation_id: PathId, session: SessionDep, user: AgentUser) -> ConversationEnvelope:
    """409 when another agent was faster."""
    # End the sign-in's transaction, so the claim's UPDATE is the first statement of a
    # transaction of its own; it runs in the request's session, like every other write
    # here: a second session would wait for this one's locks while this one waits for it.
    session.commit()
    conversation = inbox.claim(session, conversation_id=conversation_id, agent=user)
    session.commit()
    return ConversationEnvelope(conversation=_conversation(conversation, session))


@router.post("/conversations/{conversation_id}/assign", responses=error_responses(404, 409))
def assign(
    conversation_id: PathId, body: AssignIn, session: SessionDep, user: AgentUser, state: StateDep
) -> ConversationEnvelope:
    conversation = inbox.assign(
        session,
        conversation_id=conversation_id,
        agent_id=body.agent_id,
        by=user,
        office=Office.of(state.settings),
    )
    session.commit()
    return ConversationEnvelope(conversation=_conversation(conversation, session))


@router.post("/conversations/{conversation_id}/messages", responses=error_responses(404, 409))
def reply(
    conversation_id: PathId, body: ReplyIn, session: SessionDep, user: AgentUser, state: StateDep
) -> MessageEnvelope:
    """Sent through the customer's own channel; ``private`` notes are never sent."""
    message = inbox.reply(
        session,
        conversation_id=conversation_id,
        agent=user,
        text=body.text,
        office=Office.of(state.settings),
        private=body.private,
    )
    session.commit()
    if not body.private:
        state.bot.channels.wake(message.channel)
    return MessageEnvelope(message=_message(message, {user.id: user.display_name}))


@router.post("/conversations/{conversation_id}/resolve", responses=error_responses(404, 409))
def resolve(conversation_id: PathId, session: SessionDep, user: AgentUser) -> ConversationEnvelope:
    conversation = inbox.resolve(session, conversation_id=conversation_id, agent=user)
    session.commit()
    return ConversationEnvelope(conversation=_conversation(conversation, session))


@router.post("/conversations/{conversation_id}/reopen", responses=error_responses(404, 409))
def reopen(conversation_id: PathId, session: SessionDep, user: AgentUser) -> ConversationEnvelope:
    conversation = inbox.reopen(session, conversation_id=conversation_id, agent=user)
    session.commit()
    return ConversationEnvelope(conversation=_conversation(conversation, session))


@router.get("/agents")
def agents(session: SessionDep, user: AgentUser) -> AgentList:
    rows = session.scalars(
        select(User)
        .where(User.is_active.is_(True), User.role.in_((Role.agent, Role.admin)))
        .order_by(User.display_name)
    ).all()
    return AgentList(
        agents=[AgentRead(id=u.id, name=u.display_name, role=u.role.value) for u in rows]
    )


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "An event stream"}},
)
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
        # Woken by any process's committed change to a conversation or message (LISTEN/
        # NOTIFY on PostgreSQL), looking anyway every 15 s; at most one read a second.
        async with state.events.subscribe({INBOX}) as sub:
            since, _ = await run_in_threadpool(snapshot, None)
            yield ": inbox events\n\n"
            while not await request.is_disconnected():
                await sub.wait(15.0)
                since, ids = await run_in_threadpool(snapshot, since)
                if ids:
                    yield f"event: changed\ndata: {json.dumps({'ids': ids})}\n\n"
                else:
                    yield ": keep-alive\n\n"
                await asyncio.sleep(1.0)

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
    )
