"""The admin console: users, teams, SLA policies and business hours, canned responses,
the bot's response book and the audit log (admins only; the pages use the JSON API)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from crm.models import Role
from web.deps import SettingsDep
from web.pages.inbox import MaybeUser, staff_page

router = APIRouter(include_in_schema=False)

# path → (template, tab title)
PAGES = {
    "users": ("admin_users.html", "Users"),
    "teams": ("admin_teams.html", "Teams"),
    "sla": ("admin_sla.html", "SLA and business hours"),
    "canned": ("admin_canned.html", "Canned responses"),
    "responses": ("admin_responses.html", "Response book"),
    "audit": ("admin_audit.html", "Audit log"),
}


def _admin_page(request: Request, user: MaybeUser, name: str, **context: object) -> Response:
    template, title = PAGES[name]
    return staff_page(
        request,
        user,
        template,
        roles=(Role.admin,),
        page=f"the admin console ({title})",
        tabs=PAGES,
        current=name,
        **context,
    )


@router.get("/admin", response_class=HTMLResponse)
@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, user: MaybeUser) -> Response:
    return _admin_page(request, user, "users")


@router.get("/admin/teams", response_class=HTMLResponse)
def teams_page(request: Request, user: MaybeUser) -> Response:
    return _admin_page(request, user, "teams")


@router.get("/admin/sla", response_class=HTMLResponse)
def sla_page(request: Request, user: MaybeUser, settings: SettingsDep) -> Response:
    return _admin_page(
        request,
        user,
        "sla",
        default_hours=settings.business_hours,
        default_timezone=settings.business_timezone,
    )


@router.get("/admin/canned", response_class=HTMLResponse)
def canned_page(request: Request, user: MaybeUser) -> Response:
    return _admin_page(request, user, "canned")


@router.get("/admin/responses", response_class=HTMLResponse)
def responses_page(request: Request, user: MaybeUser) -> Response:
    return _admin_page(request, user, "responses")


@router.get("/admin/audit", response_class=HTMLResponse)
def audit_page(request: Request, user: MaybeUser) -> Response:
    return _admin_page(request, user, "audit")
