"""Staff pages: sign in / out, the agents' queue and the conversation view."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from crm.db import utcnow
from crm.models import Role, User
from crm.users.service import authenticate
from web.auth import SESSION_COOKIE, csrf_token, optional_user, set_session_cookie
from web.deps import SessionDep, SettingsDep
from web.templating import templates

router = APIRouter(include_in_schema=False)
MaybeUser = Annotated[User | None, Depends(optional_user)]


def _safe_next(target: str | None) -> str:
    """Only same-site paths (no open redirects)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/inbox"


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, user: MaybeUser, next: str | None = None) -> Response:
    if user is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return templates.TemplateResponse(
        request, "login.html", {"next": _safe_next(next), "error": None}
    )


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    email: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/inbox",
) -> Response:
    user = authenticate(session, email=email, password=password)
    if user is None:
        return templates.TemplateResponse(
            request,
            "login.html",
            {"next": _safe_next(next), "error": "Wrong email or password."},
            status_code=401,
        )
    user.last_login_at = utcnow()
    session.commit()
    target = _safe_next(next)
    if user.role is Role.marketer and target.startswith("/inbox"):
        target = "/analytics/satisfaction"
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, user, settings)
    return response


@router.post("/logout")
def logout(user: MaybeUser) -> Response:
    """Signing out needs the CSRF token (checked by ``optional_user``)."""
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def staff_page(
    request: Request,
    user: User | None,
    template: str,
    *,
    roles: tuple[Role, ...] = (Role.agent, Role.admin),
    **context: object,
) -> Response:
    """Render a staff page for ``roles``: others see "forbidden", strangers sign in first."""
    if user is None:
        return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
    settings = request.app.state.careloop.settings
    cookie = request.cookies.get(SESSION_COOKIE, "")
    token = csrf_token(cookie, settings.secret_key.get_secret_value())
    if user.role not in roles:
        return templates.TemplateResponse(
            request, "forbidden.html", {"user": user, "csrf_token": token}, status_code=403
        )
    return templates.TemplateResponse(
        request, template, {"user": user, "csrf_token": token, **context}
    )


@router.get("/inbox", response_class=HTMLResponse)
def inbox_page(request: Request, user: MaybeUser) -> Response:
    return staff_page(request, user, "inbox.html")


@router.get("/inbox/conversations/{conversation_id}", response_class=HTMLResponse)
def conversation_page(request: Request, user: MaybeUser, conversation_id: int) -> Response:
    return staff_page(request, user, "conversation.html", conversation_id=conversation_id)


@router.get("/analytics/satisfaction", response_class=HTMLResponse)
def satisfaction_page(request: Request, user: MaybeUser) -> Response:
    return staff_page(request, user, "satisfaction.html", roles=(Role.marketer, Role.admin))


@router.get("/analytics/segments", response_class=HTMLResponse)
def segments_page(request: Request, user: MaybeUser) -> Response:
    return staff_page(request, user, "segments.html", roles=(Role.marketer, Role.admin))


@router.get("/analytics/quality", response_class=HTMLResponse)
def quality_page(request: Request, user: MaybeUser) -> Response:
    return staff_page(request, user, "quality.html", roles=(Role.marketer, Role.admin))


@router.get("/analytics/conversations", response_class=HTMLResponse)
def drilldown_page(request: Request, user: MaybeUser) -> Response:
    """The conversations behind one number of the quality page (same query parameters)."""
    return staff_page(request, user, "drilldown.html", roles=(Role.marketer, Role.admin))


@router.get("/campaigns", response_class=HTMLResponse)
def campaigns_page(request: Request, user: MaybeUser) -> Response:
    return staff_page(request, user, "campaigns.html", roles=(Role.marketer, Role.admin))


@router.get("/campaigns/{campaign_id}", response_class=HTMLResponse)
def campaign_report_page(request: Request, user: MaybeUser, campaign_id: int) -> Response:
    return staff_page(
        request,
        user,
        "campaign_report.html",
        roles=(Role.marketer, Role.admin),
        campaign_id=campaign_id,
    )


@router.get("/customers/{customer_id}", response_class=HTMLResponse)
def customer_page(request: Request, user: MaybeUser, customer_id: int) -> Response:
    return staff_page(
        request,
        user,
        "customer.html",
        roles=(Role.agent, Role.marketer, Role.admin),
        customer_id=customer_id,
    )
