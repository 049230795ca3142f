"""The API reference page: Swagger UI from web/static/vendor (no CDN, works offline and
under the content security policy: its start-up script is web/static/docs.js)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from web.templating import templates

router = APIRouter(include_in_schema=False)


@router.get("/docs", response_class=HTMLResponse)
def docs(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(
        request, "docs.html", {"openapi_url": request.app.openapi_url}
    )
