"""Request and response models of the campaign API (``/api/v1/campaigns``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

from crm.schemas import ReadModel, RowId, Timestamp

Money = str  # a decimal amount as text ("0.05"), never a float


class CampaignWrite(BaseModel):
    """A campaign's fields; on PATCH only the ones given change."""

    name: str | None = Field(default=None, description="1 to 200 characters")
    goal: str | None = None
    channel: Literal["telegram", "web"] | None = None
    audience: dict[str, Any] | None = Field(
        default=None, description='rules, e.g. {"all": [{"field": "churn_risk", ...}]}'
    )
    template: str | None = Field(default=None, description="Jinja2 text, sandboxed")
    offer_code: str | None = None
    unique_codes: bool | None = None
    offer_value: Decimal | None = Field(default=None, description="discount per redemption")
    message_cost: Decimal | None = Field(default=None, description="cost of one message")
    attribution: Literal["any_order", "offer_code"] | None = None
    attribution_days: int | None = None
    max_messages: int | None = None
    schedule_kind: Literal["once", "recurring", "triggered"] | None = None
    schedule: dict[str, Any] | None = Field(
        default=None,
        description='{"at": ISO} | {"cron": "0 9 * * 1", "timezone": "Europe/Berlin"} | '
        '{"trigger": "churn_high" | "birthday" | "days_after_last_order" | "low_csat"}; '
        'a one-off time may be a wall-clock time with {"at": "2026-12-01T09:00", '
        '"timezone": "Europe/Berlin"}',
    )
    control_percent: int | None = Field(default=None, description="0 to 90")

    def values(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class AudienceIn(BaseModel):
    audience: dict[str, Any] = Field(default_factory=dict)


class MessagePreviewIn(CampaignWrite):
    customer_id: RowId | None = Field(default=None, description="default: the first member")


class CampaignRead(ReadModel):
    id: int
    status: str
    name: str
    goal: str | None
    channel: str
    audience: dict[str, Any]
    template: str
    offer_code: str | None
    unique_codes: bool
    offer_value: Money
    message_cost: Money
    attribution: str
    attribution_days: int
    max_messages: int | None
    schedule_kind: str
    schedule: dict[str, Any]
    control_percent: int
    activated_at: Timestamp | None
    finished_at: Timestamp | None
    created_at: Timestamp | None


class CampaignList(ReadModel):
    campaigns: list[CampaignRead]


class CampaignAuditEntry(ReadModel):
    at: Timestamp
    user: str = Field(description='The user\'s display name, or "system".')
    action: str
    changes: dict[str, Any] = Field(description="field → [old, new]")


class CampaignDetail(CampaignRead):
    audit: list[CampaignAuditEntry]


class PlanRead(ReadModel):
    """What one planned occurrence of a campaign holds."""

    run_id: int
    occurrence_key: str
    audience: int
    treatment: int
    control: int
    skipped: dict[str, int]
    already_planned: bool


class ActivateIn(BaseModel):
    include_existing: bool = Field(
        default=False,
        description="triggered campaigns: also include customers who already match the trigger",
    )


class ActivationWhen(ReadModel):
    """When the messages would go out."""

    kind: Literal["triggered", "recurring", "now", "at"]
    text: str = Field(description="In words, with the time zone.")
    next_run: Timestamp | None = Field(default=None, description="recurring: the next run")
    at: Timestamp | None = Field(default=None, description="at: the planned time")
    past: bool | None = Field(default=None, description="at: the time has passed (runs at once)")


class ActivationPreview(ReadModel):
    """What activating would do; nothing is written."""

    campaign_id: int
    schedule_kind: str
    channel: str
    matching_rules: int = Field(description="Customers matching the audience rules now.")
    already_matching: int = Field(description="Triggered: customers who match the trigger now.")
    include_existing: bool
    audience: int
    control: int
    treatment: int
    skipped: dict[str, int] = Field(description="Treatment members skipped, by reason.")
    skipped_labels: dict[str, str] = Field(description="Each skip reason in words.")
    will_send: int
    when: ActivationWhen
    empty_reason: str | None = Field(description="Why nothing would be sent, in words.")
    warnings: list[str]


class CampaignActivated(CampaignRead):
    run: PlanRead | None = Field(description="The occurrence planned now, if any.")


class CampaignFinished(CampaignRead):
    cancelled: int = Field(description="Pending messages that will not be sent.")


class AudienceField(ReadModel):
    description: str
    ops: list[str]
    choices: list[str]


class ChannelOption(ReadModel):
    value: str
    label: str
    configured: bool = Field(description="Whether messages on it can leave.")


class AudienceFields(ReadModel):
    channels: list[ChannelOption]
    default_channel: str = Field(description="The first configured channel.")
    shop_timezone: str = Field(description="The time zone of one-off wall-clock times.")
    fields: dict[str, AudienceField]
    template_variables: dict[str, str]


class AudienceMember(ReadModel):
    id: int
    name: str
    email: str | None
    segment: str | None
    clv: Money | None
    churn_risk: str | None


class AudiencePreview(ReadModel):
    size: int
    sample: list[AudienceMember]


class MessagePreview(ReadModel):
    customer_id: int
    customer: str
    text: str


# -- the report --------------------------------------------------------------------------


class ReportCampaign(ReadModel):
    id: int
    name: str
    status: str


class ReportAttribution(ReadModel):
    mode: str
    days: int


class Conversions(ReadModel):
    treatment: int
    control: int
    treatment_rate: float | None
    control_rate: float | None


class Uplift(ReadModel):
    absolute: float | None
    absolute_ci95: list[float] | None
    relative: float | None
    relative_ci95: list[float] | None


class Revenue(ReadModel):
    treatment: Money
    control: Money


class Replies(ReadModel):
    conversations: int
    escalated: int
    complaints: int


class FunnelStage(ReadModel):
    stage: str
    count: int


class CampaignReport(ReadModel):
    """Audience, treatment / control, delivery, conversions, uplift with 95 % intervals,
    incremental revenue and ROI."""

    campaign: ReportCampaign
    attribution: ReportAttribution
    audience: int
    treatment: int
    control: int
    outbox: dict[str, int]
    skipped: dict[str, int]
    channel: dict[str, int]
    delivered: int
    waiting_for_customer: int = Field(
        description="Web-chat offers waiting for the customer to open the chat."
    )
    empty_reason: str | None = Field(description="Why nobody has entered the campaign yet.")
    uplift_note: str | None = Field(description="Why the uplift can't be measured yet.")
    conversions: Conversions
    uplift: Uplift
    incremental_conversions: float | None
    revenue: Revenue
    incremental_revenue: Money | None
    redemptions: int
    replies: Replies
    costs: Money
    roi: float | None
    funnel: list[FunnelStage]
