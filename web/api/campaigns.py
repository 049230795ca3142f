"""Campaign API (marketers and admins): create and edit, preview the audience and the
message, activate / pause / finish / run now, the audit trail and the report (JSON or CSV)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, Field

from crm.campaigns import activation, audience, report, service
from crm.models import Channel, Role, User
from web.auth import require_roles
from web.deps import SessionDep, SettingsDep

router = APIRouter(prefix="/api/v1/campaigns", tags=["campaigns"])
MarketerUser = Annotated[User, Depends(require_roles(Role.marketer))]
CHANNEL_LABELS = {Channel.telegram: "Telegram", Channel.web: "Web chat"}


class CampaignIn(BaseModel):
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


class MessagePreviewIn(CampaignIn):
    customer_id: int | None = Field(default=None, description="default: the first member")


@router.get("")
def list_campaigns(session: SessionDep, user: MarketerUser) -> dict[str, Any]:
    return {"campaigns": [service.as_dict(c) for c in service.list_campaigns(session)]}


@router.get("/fields")
def audience_fields(user: MarketerUser, settings: SettingsDep) -> dict[str, Any]:
    """What audience rules and templates can use, the channels (and which are configured),
    the default channel and the shop's time zone for one-off times."""
    from crm.campaigns.messages import VARIABLES

    channels = [
        {
            "value": channel.value,
            "label": CHANNEL_LABELS[channel],
            "configured": activation.channel_configured(channel, settings),
        }
        for channel in (Channel.telegram, Channel.web)
    ]
    return {
        "channels": channels,
        "default_channel": next(c["value"] for c in channels if c["configured"]),
        "shop_timezone": settings.business_timezone,
        "fields": {
            name: {"description": f.description, "ops": list(f.ops), "choices": list(f.choices)}
            for name, f in audience.FIELDS.items()
        },
        "template_variables": VARIABLES,
    }


@router.post("", status_code=201)
def create_campaign(body: CampaignIn, session: SessionDep, user: MarketerUser) -> dict[str, Any]:
    campaign = service.create_campaign(session, body.values(), user)
    session.commit()
    return service.as_dict(campaign)


@router.post("/preview/audience")
def preview_audience(body: AudienceIn, session: SessionDep, user: MarketerUser) -> dict[str, Any]:
    """The size of an audience and a sample of members, before saving."""
    return audience.preview(session, body.audience, masked=user.role is Role.marketer)


@router.post("/preview/message")
def preview_message(
    body: MessagePreviewIn, session: SessionDep, settings: SettingsDep, user: MarketerUser
) -> dict[str, Any]:
    """The message as a real customer would get it, before saving."""
    values = body.values()
    customer_id = values.pop("customer_id", None)
    return service.preview_message(
        session, values, customer_id, settings.secret_key.get_secret_value()
    )


@router.get("/{campaign_id}")
def show_campaign(campaign_id: int, session: SessionDep, user: MarketerUser) -> dict[str, Any]:
    campaign = service.get_campaign(session, campaign_id)
    return {**service.as_dict(campaign), "audit": service.audit_trail(session, campaign_id)}


@router.patch("/{campaign_id}")
def update_campaign(
    campaign_id: int, body: CampaignIn, session: SessionDep, user: MarketerUser
) -> dict[str, Any]:
    campaign = service.update_campaign(
        session, service.get_campaign(session, campaign_id), body.values(), user
    )
    session.commit()
    return service.as_dict(campaign)


class ActivateIn(BaseModel):
    include_existing: bool = Field(
        default=False,
        description="triggered campaigns: also include customers who already match the trigger",
    )


@router.get("/{campaign_id}/activation-preview")
def activation_preview(
    campaign_id: int,
    session: SessionDep,
    settings: SettingsDep,
    user: MarketerUser,
    include_existing: Annotated[
        bool, Query(description="triggered: count who matches now")
    ] = False,
) -> dict[str, Any]:
    """What "Activate" would do, before it is done: audience, control group, who is skipped
    and why, how many messages go out, when, and warnings (e.g. a control group too small
    to measure uplift). Nothing is written."""
    campaign = service.get_campaign(session, campaign_id)
    return activation.preview(session, campaign, settings, include_existing=include_existing)


@router.post("/{campaign_id}/activate")
def activate(
    campaign_id: int,
    session: SessionDep,
    settings: SettingsDep,
    user: MarketerUser,
    body: ActivateIn | None = None,
) -> dict[str, Any]:
    """Start or resume; a one-off campaign without a time is planned at once."""
    campaign = service.get_campaign(session, campaign_id)
    include = body.include_existing if body is not None else False
    result = service.activate(session, campaign, user, settings, include_existing=include)
    session.commit()
    return {**service.as_dict(campaign), "run": result.as_dict() if result else None}


@router.post("/{campaign_id}/pause")
def pause(campaign_id: int, session: SessionDep, user: MarketerUser) -> dict[str, Any]:
    campaign = service.get_campaign(session, campaign_id)
    service.pause(session, campaign, user)
    session.commit()
    return service.as_dict(campaign)


@router.post("/{campaign_id}/finish")
def finish(campaign_id: int, session: SessionDep, user: MarketerUser) -> dict[str, Any]:
    campaign = service.get_campaign(session, campaign_id)
    cancelled = service.finish(session, campaign, user)
    session.commit()
    return {**service.as_dict(campaign), "cancelled": cancelled}


@router.get("/{campaign_id}/report", response_model=None)
def campaign_report(
    campaign_id: int,
    session: SessionDep,
    user: MarketerUser,
    format: Annotated[Literal["json", "csv"], Query(description="json or csv")] = "json",
) -> dict[str, Any] | Response:
    """Audience, treatment/control, delivered, skipped by reason, conversions, uplift with
    95 % intervals, incremental revenue and ROI."""
    data = report.campaign_report(session, service.get_campaign(session, campaign_id))
    if format == "csv":
        return PlainTextResponse(
            report.report_csv(data),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="campaign-{campaign_id}.csv"'},
        )
    return data
