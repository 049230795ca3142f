"""HTML pages: the landing page and the customer web chat."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from web.api.chat import shop_name
from web.deps import BotDep, SettingsDep
from web.templating import templates

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "home.html", {})


@router.get("/chat", response_class=HTMLResponse)
def chat(request: Request, bot: BotDep, settings: SettingsDep) -> HTMLResponse:
    return templates.TemplateResponse(
        request, "chat.html", {"shop_name": shop_name(settings, bot.responses)}
    )
