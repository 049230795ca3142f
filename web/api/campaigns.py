"""Campaign API (marketers and admins): create and edit, preview the audience and the
message, activate / pause / finish / run now, the audit trail and the report (JSON or CSV)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import PlainTextResponse, Response

from crm.campaigns import activation, audience, report, service
from crm.campaigns.schemas import (
    ActivateIn,
    ActivationPreview,
    AudienceField,
    AudienceFields,
    AudienceIn,
    AudiencePreview,
    CampaignActivated,
    CampaignDetail,
    CampaignFinished,
    CampaignList,
    CampaignRead,
    CampaignReport,
    CampaignWrite,
    ChannelOption,
    MessagePreview,
    MessagePreviewIn,
)
from crm.models import Campaign, Channel, Role, User
from web.auth import require_roles
from web.deps import PathId, SessionDep, SettingsDep
from web.errors import STAFF, error_responses

router = APIRouter(
    prefix="/api/v1/campaigns", tags=["campaigns"], responses=error_responses(*STAFF)
)
MarketerUser = Annotated[User, Depends(require_roles(Role.marketer))]
CHANNEL_LABELS = {Channel.telegram: "Telegram", Channel.web: "Web chat"}
BY_ID = error_responses(404)


def _read(campaign: Campaign) -> CampaignRead:
    return CampaignRead.model_validate(service.as_dict(campaign))


@router.get("")
def list_campaigns(session: SessionDep, user: MarketerUser) -> CampaignList:
    return CampaignList(campaigns=[_read(c) for c in service.list_campaigns(session)])


@router.get("/fields")
def audience_fields(user: MarketerUser, settings: SettingsDep) -> AudienceFields:
    """What audience rules and templates can use, the channels (and which are configured),
    the default channel and the shop's time zone for one-off times."""
    from crm.campaigns.messages import VARIABLES

    channels = [
        ChannelOption(
            value=channel.value,
            label=CHANNEL_LABELS[channel],
            configured=activation.channel_configured(channel, settings),
        )
        for channel in (Channel.telegram, Channel.web)
    ]
    return AudienceFields(
        channels=channels,
        default_channel=next(c.value for c in channels if c.configured),
        shop_timezone=settings.business_timezone,
        fields={
            name: AudienceField(description=f.description, ops=list(f.ops), choices=list(f.choices))
            for name, f in audience.FIELDS.items()
        },
        template_variables=VARIABLES,
    )


@router.post("", status_code=201)
def create_campaign(body: CampaignWrite, session: SessionDep, user: MarketerUser) -> CampaignRead:
    campaign = service.create_campaign(session, body.values(), user)
    session.commit()
    return _read(campaign)


@router.post("/preview/audience")
def preview_audience(body: AudienceIn, session: SessionDep, user: MarketerUser) -> AudiencePreview:
    """The size of an audience and a sample of members, before saving."""
    return AudiencePreview.model_validate(
        audience.preview(session, body.audience, masked=user.role is Role.marketer)
    )


@router.post("/preview/message", responses=BY_ID)
def preview_message(
    body: MessagePreviewIn, session: SessionDep, settings: SettingsDep, user: MarketerUser
) -> MessagePreview:
    """The message as a real customer would get it, before saving."""
    values = body.values()
    customer_id = values.pop("customer_id", None)
    return MessagePreview.model_validate(
        service.preview_message(
            session, values, customer_id, settings.secret_key.get_secret_value()
        )
    )


@router.get("/{campaign_id}", responses=BY_ID)
def show_campaign(campaign_id: PathId, session: SessionDep, user: MarketerUser) -> CampaignDetail:
    campaign = service.get_campaign(session, campaign_id)
    return CampaignDetail.model_validate(
        {**service.as_dict(campaign), "audit": service.audit_trail(session, campaign_id)}
    )


@router.patch("/{campaign_id}", responses=error_responses(404, 409))
def update_campaign(
    campaign_id: PathId, body: CampaignWrite, session: SessionDep, user: MarketerUser
) -> CampaignRead:
    campaign = service.update_campaign(
        session, service.get_campaign(session, campaign_id), body.values(), user
    )
    session.commit()
    return _read(campaign)


@router.get("/{campaign_id}/activation-preview", responses=BY_ID)
def activation_preview(
    campaign_id: PathId,
    session: SessionDep,
    settings: SettingsDep,
    user: MarketerUser,
    include_existing: Annotated[
        bool, Query(description="triggered: count who matches now")
    ] = False,
) -> ActivationPreview:
    """What "Activate" would do, before it is done: audience, control group, who is skipped
    and why, how many messages go out, when, and warnings (e.g. a control group too small
    to measure uplift). Nothing is written."""
    campaign = service.get_campaign(session, campaign_id)
    return ActivationPreview.model_validate(
        activation.preview(session, campaign, settings, include_existing=include_existing)
    )


@router.post("/{campaign_id}/activate", responses=error_responses(404, 409))
def activate(
    campaign_id: PathId,
    session: SessionDep,
    settings: SettingsDep,
    user: MarketerUser,
    body: ActivateIn | None = None,
) -> CampaignActivated:
    """Start or resume; a one-off campaign without a time is planned at once."""
    campaign = service.get_campaign(session, campaign_id)
    include = body.include_existing if body is not None else False
    result = service.activate(session, campaign, user, settings, include_existing=include)
    session.commit()
    return CampaignActivated.model_validate(
        {**service.as_dict(campaign), "run": result.as_dict() if result else None}
    )


@router.post("/{campaign_id}/pause", responses=error_responses(404, 409))
def pause(campaign_id: PathId, session: SessionDep, user: MarketerUser) -> CampaignRead:
    campaign = service.get_campaign(session, campaign_id)
    service.pause(session, campaign, user)
    session.commit()
    return _read(campaign)


@router.post("/{campaign_id}/finish", responses=error_responses(404, 409))
def finish(campaign_id: PathId, session: SessionDep, user: MarketerUser) -> CampaignFinished:
    campaign = service.get_campaign(session, campaign_id)
    cancelled = service.finish(session, campaign, user)
    session.commit()
    return CampaignFinished.model_validate({**service.as_dict(campaign), "cancelled": cancelled})


@router.get(
    "/{campaign_id}/report",
    response_model=CampaignReport,
    responses={
        **BY_ID,
        200: {
            "description": "The report as JSON, or with `format=csv` as `metric,value` rows",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
    },
)
def campaign_report(
    campaign_id: PathId,
    session: SessionDep,
    user: MarketerUser,
    format: Annotated[Literal["json", "csv"], Query(description="json or csv")] = "json",
) -> CampaignReport | Response:
    """Audience, treatment/control, delivered, skipped by reason, conversions, uplift with
    95 % intervals, incremental revenue and ROI."""
    data = report.campaign_report(session, service.get_campaign(session, campaign_id))
    if format == "csv":
        return PlainTextResponse(
            report.report_csv(data),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="campaign-{campaign_id}.csv"'},
        )
    return CampaignReport.model_validate(data)
