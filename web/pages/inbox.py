"""Staff pages: the agents' queue and the conversation view, analytics, campaigns and the
customer page (sign-in and sign-out live in ``web.pages.account``)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from crm.models import Role, User
from web.auth import PASSWORD_CHANGE_PATH, optional_user
from web.params import RowId
from web.templating import templates

router = APIRouter(include_in_schema=False)
MaybeUser = Annotated[User | None, Depends(optional_user)]


def staff_page(
    request: Request,
    user: User | None,
    template: str,
    *,
    roles: tuple[Role, ...] = (Role.agent, Role.admin),
    page: str = "the agents' inbox",
    **context: object,
) -> Response:
    """Render a staff page for ``roles``: others see "forbidden" naming ``page`` and who
    may open it, strangers sign in first."""
    if user is None:
        return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
    if user.password_change_required:
        return RedirectResponse(PASSWORD_CHANGE_PATH, status_code=303)
    token = getattr(request.state, "csrf_token", None)
    if user.role not in roles:
        return templates.TemplateResponse(
            request,
            "forbidden.html",
            {
                "user": user,
                "csrf_token": token,
                "page": page,
                "roles": [r.value for r in roles],
            },
            status_code=403,
        )
    return templates.TemplateResponse(
        request, template, {"user": user, "csrf_token": token, **context}
    )


@router.get("/inbox", response_class=HTMLResponse)
def inbox_page(request: Request, user: MaybeUser) -> Response:
    return staff_page(request, user, "inbox.html")


@router.get("/inbox/conversations/{conversation_id}", response_class=HTMLResponse)
def conversation_page(request: Request, user: MaybeUser, conversation_id: int) -> Response:
    return staff_page(
        request,
        user,
        "conversation.html",
        page="conversations in the agents' inbox",
        conversation_id=conversation_id,
    )


@router.get("/analytics/satisfaction", response_class=HTMLResponse)
def satisfaction_page(request: Request, user: MaybeUser) -> Response:
    return staff_page(
        request,
        user,
        "satisfaction.html",
        roles=(Role.marketer, Role.admin),
        page="the Satisfaction analytics page",
    )


@router.get("/analytics/segments", response_class=HTMLResponse)
def segments_page(request: Request, user: MaybeUser) -> Response:
    return staff_page(
        request,
        user,
        "segments.html",
        roles=(Role.marketer, Role.admin),
        page="the Segments page",
    )


@router.get("/analytics/quality", response_class=HTMLResponse)
def quality_page(request: Request, user: MaybeUser) -> Response:
    return staff_page(
        request,
        user,
        "quality.html",
        roles=(Role.marketer, Role.admin),
        page="the Bot quality page",
    )


@router.get("/analytics/conversations", response_class=HTMLResponse)
def drilldown_page(request: Request, user: MaybeUser) -> Response:
    """The conversations behind one number of the quality page (same query parameters)."""
    return staff_page(
        request,
        user,
        "drilldown.html",
        roles=(Role.marketer, Role.admin),
        page="the Bot quality drill-down",
    )


@router.get("/analytics/conversations/{conversation_id}", response_class=HTMLResponse)
def transcript_page(request: Request, user: MaybeUser, conversation_id: int) -> Response:
    """One conversation read-only with contact details masked (marketers' drill-down)."""
    return staff_page(
        request,
        user,
        "transcript.html",
        roles=(Role.marketer, Role.admin),
        conversation_id=conversation_id,
    )


@router.get("/campaigns", response_class=HTMLResponse)
def campaigns_page(request: Request, user: MaybeUser) -> Response:
    return staff_page(
        request, user, "campaigns.html", roles=(Role.marketer, Role.admin), page="Campaigns"
    )


@router.get("/campaigns/{campaign_id}", response_class=HTMLResponse)
def campaign_report_page(request: Request, user: MaybeUser, campaign_id: RowId) -> Response:
    return staff_page(
        request,
        user,
        "campaign_report.html",
        roles=(Role.marketer, Role.admin),
        page="the campaign report",
        campaign_id=campaign_id,
    )


@router.get("/customers/{customer_id}", response_class=HTMLResponse)
def customer_page(request: Request, user: MaybeUser, customer_id: RowId) -> Response:
    return staff_page(
        request,
        user,
        "customer.html",
        roles=(Role.agent, Role.marketer, Role.admin),
        page="the customer page",
        customer_id=customer_id,
    )
