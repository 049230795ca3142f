"""Response models of the customer API (``/api/v1/customers``) and of the customer 360
beside a conversation in the inbox."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import Field

from crm.schemas import ReadModel, Timestamp

Money = str  # a decimal amount as text ("12.50"), never a float


class CustomerSummary(ReadModel):
    id: int
    name: str
    email: str | None = Field(description="Masked (a***@example.com) for marketers.")
    segment: str | None
    clv: Money | None
    churn_risk: str | None
    churn_probability: float | None


class CustomerList(ReadModel):
    customers: list[CustomerSummary]


class OrderLine(ReadModel):
    ref: str
    date: dt.date
    status: str
    total: str = Field(description='Amount and currency, e.g. "59.90 EUR".')


class PastConversation(ReadModel):
    id: int
    channel: str
    status: str
    reason: str | None
    last_message_at: Timestamp


class SatisfactionSummary(ReadModel):
    csat_last: int | None
    csat_avg: float | None
    csat_count: int
    csat_trend: float | None
    nps_last: int | None
    nps_category: str | None


class SurveyLine(ReadModel):
    kind: str
    score: int | None
    status: str
    comment: str | None
    answered_at: Timestamp | None


class Customer360(ReadModel):
    """Contact, consent, scores, recent orders, past conversations and survey scores."""

    id: int
    name: str
    email: str | None
    phone: str | None
    marketing_consent: bool
    segment: str | None
    clv: Money | None
    churn_risk: str | None
    churn_probability: float | None
    churn_reasons: list[str] = Field(description="the top churn reasons, in words")
    order_count: int
    total_spent: Money
    orders: list[OrderLine]
    conversations: list[PastConversation]
    satisfaction: SatisfactionSummary
    surveys: list[SurveyLine]


class IdentityLine(ReadModel):
    channel: str
    external_id: str | None = Field(description="Left out (null) for marketers.")
    username: str | None
    reachable: bool
    unreachable_reason: str | None


class EventLine(ReadModel):
    kind: str
    data: dict[str, Any] | None
    at: Timestamp


class CustomerProfile(Customer360):
    """The customer page: the 360 plus identities, events and scoring details. Marketers
    get masked contacts, no channel ids and no survey comments."""

    external_id: str | None
    birthday: dt.date | None
    timezone: str | None
    tags: list[Any] | None
    opted_out_at: Timestamp | None
    rfm_score: str | None
    scored_at: Timestamp | None
    erased: bool
    identities: list[IdentityLine]
    events: list[EventLine]


# -- the privacy export (admins) --------------------------------------------------------


class ExportCustomer(ReadModel):
    id: int
    external_id: str | None
    first_name: str | None
    last_name: str | None
    email: str | None
    phone: str | None
    birthday: dt.date | None
    timezone: str | None
    locale: str | None
    tags: list[Any] | None
    attributes: dict[str, Any] | None
    created_at: Timestamp | None


class ExportConsent(ReadModel):
    marketing_consent: bool
    opted_out_at: Timestamp | None


class ExportScores(ReadModel):
    rfm_score: str | None
    rfm_segment: str | None
    clv: Money | None
    churn_probability: float | None
    churn_risk: str | None
    churn_reasons: list[str] | None = Field(description="the top churn reasons, in words")
    scored_at: Timestamp | None
    csat_last: int | None
    csat_avg: float | None
    nps_last: int | None
    nps_category: str | None


class ExportIdentity(ReadModel):
    channel: str
    external_id: str
    username: str | None
    reachable: bool
    created_at: Timestamp | None


class ExportOrder(ReadModel):
    external_id: str | None
    ordered_at: Timestamp | None
    status: str
    total_amount: Money
    currency: str
    items_count: int | None
    offer_code: str | None


class ExportMessage(ReadModel):
    at: Timestamp | None
    sender: str = Field(alias="from", serialization_alias="from")
    text: str
    intent: str | None
    sentiment: float | None


class ExportConversation(ReadModel):
    id: int
    channel: str
    status: str
    escalation_reason: str | None
    created_at: Timestamp | None
    messages: list[ExportMessage]


class ExportSurvey(ReadModel):
    kind: str
    status: str
    score: int | None
    comment: str | None
    sent_at: Timestamp | None
    answered_at: Timestamp | None


class ExportEvent(ReadModel):
    kind: str
    data: dict[str, Any] | None
    at: Timestamp | None


class ExportBlock(ReadModel):
    channel: str
    reason: str
    note: str | None
    at: Timestamp | None


class CustomerExport(ReadModel):
    """Everything careloop holds about one customer (a data subject access request)."""

    exported_at: Timestamp
    customer: ExportCustomer
    consent: ExportConsent
    scores: ExportScores
    identities: list[ExportIdentity]
    orders: list[ExportOrder]
    conversations: list[ExportConversation]
    surveys: list[ExportSurvey]
    events: list[ExportEvent]
    contact_blocks: list[ExportBlock]


class CustomerErased(ReadModel):
    erased: int = Field(description="The customer's id.")
    messages: int = Field(description="Messages whose text was erased.")
    survey_comments: int
    identities: int = Field(description="Channel identities removed.")


# -- do not contact ---------------------------------------------------------------------


class ContactBlockRead(ReadModel):
    id: int
    channel: str
    reason: str
    note: str | None
    created_by_id: int | None
    created_at: Timestamp


class ContactBlockList(ReadModel):
    blocks: list[ContactBlockRead]


class ContactBlockDeleted(ReadModel):
    deleted: int


class MaskedConversation(ReadModel):
    id: int
    channel: str
    status: str
    escalation_reason: str | None
    started_at: Timestamp | None


class MaskedMessage(ReadModel):
    id: int
    sender: str
    text: str = Field(description="Emails, phones and order numbers masked.")
    intent: str | None = Field(description="The corrected intent, else the predicted one.")
    created_at: Timestamp | None


class MaskedTranscript(ReadModel):
    """A conversation as a marketer may read it: no private notes, contact details masked."""

    conversation: MaskedConversation
    customer: str = Field(description='The first name, or "customer #id".')
    masked: bool
    messages: list[MaskedMessage]
