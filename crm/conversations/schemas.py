"""Request and response models of the inbox API (``/api/v1/inbox``), of teams and SLA
policies, and of the bot quality report."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt

from crm.customers.schemas import Customer360
from crm.schemas import ReadModel, RowId, Timestamp

# -- the inbox ---------------------------------------------------------------------------


class QueueRowRead(ReadModel):
    id: int
    customer_id: int
    customer_name: str
    channel: str
    status: str
    priority: int
    effective_priority: int
    reason: str | None
    sentiment: float | None
    value_tier: str | None
    churn_risk: str | None
    assigned_agent_id: int | None
    escalated_at: Timestamp | None
    last_message_at: Timestamp
    waiting_seconds: int | None
    team_id: int | None
    sla_state: str | None
    sla_due_at: Timestamp | None
    other_open: list[int] = Field(
        description="The same customer's other conversations open with the agents."
    )


class AgentCapacity(ReadModel):
    held: int = Field(description="Conversations the agent holds now.")
    limit: int = Field(description="How many the agent may hold at once.")


class QueueRead(ReadModel):
    view: str
    sort: str
    conversations: list[QueueRowRead]
    capacity: AgentCapacity = Field(description="The signed-in agent's capacity.")


class ConversationMetrics(ReadModel):
    first_reply_seconds: int | None
    resolution_seconds: int | None
    agent_messages: int


class TeamRef(ReadModel):
    id: int
    name: str


class SlaRead(ReadModel):
    state: str | None
    first_response_due_at: Timestamp | None
    resolution_due_at: Timestamp | None
    first_response_hit: bool | None
    resolution_hit: bool | None


class CampaignRef(ReadModel):
    """The campaign a conversation answers (reply-to-offer)."""

    id: int
    name: str
    template: str


class InboxConversation(ReadModel):
    id: int
    customer_id: int
    other_open: list[int] = Field(
        description="The same customer's other conversations open with the agents."
    )
    channel: str
    status: str
    priority: int
    reason: str | None
    language: str | None = Field(
        default=None,
        description="The language the customer writes in (ISO 639-1), which the bot answers "
        "in; null until a message says enough.",
    )
    assigned_agent_id: int | None
    escalated_at: Timestamp | None
    resolved_at: Timestamp | None
    metrics: ConversationMetrics
    team: TeamRef | None
    sla: SlaRead
    campaign: CampaignRef | None


class ConversationEnvelope(ReadModel):
    conversation: InboxConversation


class EntityRef(ReadModel):
    type: str | None
    text: str | None


class InboxMessage(ReadModel):
    id: int
    direction: str
    sender: str
    author: str | None = Field(description="The agent's display name, for agent messages.")
    text: str
    private: bool = Field(description="A private note: never sent to the customer.")
    intent: str | None
    intent_confidence: float | None
    corrected_intent: str | None
    sentiment: str | None
    sentiment_score: float | None
    entities: list[EntityRef]
    delivery_status: str | None
    created_at: Timestamp


class MessageEnvelope(ReadModel):
    message: InboxMessage


class ConversationDetail(ReadModel):
    conversation: InboxConversation
    messages: list[InboxMessage]
    customer: Customer360


class IntentList(ReadModel):
    intents: list[str]


class RelabelRead(ReadModel):
    id: int
    intent: str | None
    corrected_intent: str | None


class NotificationRead(ReadModel):
    id: int
    kind: str
    text: str
    conversation_id: int | None
    created_at: Timestamp
    read: bool


class NotificationList(ReadModel):
    notifications: list[NotificationRead]


class MarkedRead(ReadModel):
    marked: int = Field(description="How many notifications were marked read.")


class AgentRead(ReadModel):
    id: int
    name: str
    role: str


class AgentList(ReadModel):
    agents: list[AgentRead]


# -- teams and SLA policies (the ranges and formats: business hours, time zones, ISO
# dates, minutes, are checked by ``teams``, whose messages name the bad field) ---------


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

    user_id: RowId


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


# -- the bot quality report --------------------------------------------------------------

Rate = Annotated[float | None, Field(description="percent, one decimal; null without data")]


class HandoffByIntent(ReadModel):
    intent: str
    conversations: int
    handoffs: int
    rate: Rate


class HandoffByReason(ReadModel):
    reason: str
    handoffs: int


class Correction(ReadModel):
    pair: str = Field(description='"model>agent"')
    model: str
    agent: str
    count: int


class CsatSplit(ReadModel):
    answers: int
    csat_pct: Rate
    average: float | None


class TimeBucket(ReadModel):
    bucket: str
    conversations: int


class SlaHits(ReadModel):
    hit: int
    decided: int
    hit_rate: Rate


class QualityReport(ReadModel):
    """Containment, handoffs, not-sure rate, intent corrections, CSAT bot-only vs human,
    first-response and resolution time buckets, SLA hit rates."""

    filters: dict[str, Any] = Field(description="The filters in force, as query parameters.")
    conversations: int
    resolved: int
    containment_rate: Rate
    handoff_rate: Rate
    not_sure_rate: Rate
    handoff_by_intent: list[HandoffByIntent]
    handoff_by_reason: list[HandoffByReason]
    corrections: list[Correction]
    csat: dict[str, CsatSplit] = Field(description='"bot" and "human"')
    first_response_time: list[TimeBucket]
    resolution_time: list[TimeBucket]
    sla: dict[str, SlaHits] = Field(description='"first_response" and "resolution"')
