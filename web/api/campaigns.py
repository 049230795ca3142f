"""Campaign API (marketers and admins): create and edit, preview the audience and the
message, activate / pause / finish / run now, the audit trail and the report (JSON or CSV)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, Field

from crm.campaigns import audience, report, service
from crm.models import Role, User
from web.auth import require_roles
from web.deps import SessionDep, SettingsDep
from web.params import Count, RowId

router = APIRouter(prefix="/api/v1/campaigns", tags=["campaigns"])
MarketerUser = Annotated[User, Depends(require_roles(Role.marketer))]


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
    attribution_days: Count | None = None
    max_messages: Count | None = None
    schedule_kind: Literal["once", "recurring", "triggered"] | None = None
    schedule: dict[str, Any] | None = Field(
        default=None,
        description='{"at": ISO} | {"cron": "0 9 * * 1", "timezone": "Europe/Berlin"} | '
        '{"trigger": "churn_high" | "birthday" | "days_after_last_order" | "low_csat"}',
    )
    control_percent: Count | None = Field(default=None, description="0 to 90")

    def values(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class AudienceIn(BaseModel):
    audience: dict[str, Any] = Field(default_factory=dict)


class MessagePreviewIn(CampaignIn):
    customer_id: RowId | None = Field(default=None, description="default: the first member")


@router.get("")
def list_campaigns(session: SessionDep, user: MarketerUser) -> dict[str, Any]:
    return {"campaigns": [service.as_dict(c) for c in service.list_campaigns(session)]}


@router.get("/fields")
def audience_fields(user: MarketerUser) -> dict[str, Any]:
    """What audience rules and templates can use."""
    from crm.campaigns.messages import VARIABLES

    return {
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
def show_campaign(campaign_id: RowId, session: SessionDep, user: MarketerUser) -> dict[str, Any]:
    campaign = service.get_campaign(session, campaign_id)
    return {**service.as_dict(campaign), "audit": service.audit_trail(session, campaign_id)}


@router.patch("/{campaign_id}")
def update_campaign(
    campaign_id: RowId, body: CampaignIn, session: SessionDep, user: MarketerUser
) -> dict[str, Any]:
    campaign = service.update_campaign(
        session, service.get_campaign(session, campaign_id), body.values(), user
    )
    session.commit()
    return service.as_dict(campaign)


@router.post("/{campaign_id}/activate")
def activate(
    campaign_id: RowId, session: SessionDep, settings: SettingsDep, user: MarketerUser
) -> dict[str, Any]:
    """Start or resume; a one-off campaign without a time is planned at once."""
    campaign = service.get_campaign(session, campaign_id)
    result = service.activate(session, campaign, user, settings)
    session.commit()
    return {**service.as_dict(campaign), "run": result.as_dict() if result else None}


@router.post("/{campaign_id}/pause")
def pause(campaign_id: RowId, session: SessionDep, user: MarketerUser) -> dict[str, Any]:
    campaign = service.get_campaign(session, campaign_id)
    service.pause(session, campaign, user)
    session.commit()
    return service.as_dict(campaign)


@router.post("/{campaign_id}/finish")
def finish(campaign_id: RowId, session: SessionDep, user: MarketerUser) -> dict[str, Any]:
    campaign = service.get_campaign(session, campaign_id)
    cancelled = service.finish(session, campaign, user)
    session.commit()
    return {**service.as_dict(campaign), "cancelled": cancelled}


@router.get("/{campaign_id}/report", response_model=None)
def campaign_report(
    campaign_id: RowId,
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
