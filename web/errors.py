"""One error shape for the whole HTTP API: ``{"error": {"code", "message", ...}}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.exc import DataError, SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from careloop.errors import AppError
from web.templating import templates

log = logging.getLogger(__name__)


class ValidationDetail(BaseModel):
    loc: list[str | int] = Field(description='Where: e.g. ["body", "text"] or ["query", "limit"].')
    msg: str | None
    type: str | None


class ErrorBody(BaseModel):
    code: str = Field(
        description="Stable, machine-readable: invalid, not_authenticated, forbidden, "
        "not_found, conflict, too_many_requests, storage_unavailable, ..."
    )
    message: str = Field(description="For people; safe to show.")
    details: list[ValidationDetail] | None = Field(
        default=None, description="422 from request validation only: one entry per problem."
    )


class ErrorResponse(BaseModel):
    """Every error of the API has this shape."""

    error: ErrorBody


ERROR_DESCRIPTIONS = {
    400: "Bad request",
    401: "Not signed in: no, an expired or a revoked session cookie or API token",
    403: "Signed in, but the role may not do this (or the CSRF / origin check failed)",
    404: "Not found",
    409: "Conflict with the current state (e.g. someone else was faster)",
    422: "Invalid input: the message says what, `details` where",
    429: "Too many attempts; retry after `Retry-After` seconds",
    503: "The database is unavailable; nothing was stored. Retry after `Retry-After` seconds",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route or router: the listed error statuses, documented
    with the one error model."""
    return {
        code: {"model": ErrorResponse, "description": ERROR_DESCRIPTIONS[code]} for code in codes
    }


# What nearly every route can answer: bad input, and a database that is away.
COMMON = (422, 503)
# ... and a staff route besides: not signed in, not allowed.
STAFF = (401, 403, *COMMON)


BODY_PARSE_ERROR = "There was an error parsing the body"


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


def _describe(errors: list[Any]) -> str:
    parts = []
    for err in errors:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        kind = err.get("type", "")
        if kind == "extra_forbidden":
            parts.append(f"unknown field '{loc}'")
        elif kind == "json_invalid":
            parts.append("request body is not valid JSON")
        elif kind == "missing":
            parts.append(f"missing field '{loc}'")
        else:
            parts.append(f"{loc or 'body'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def wants_page(request: Request) -> bool:
    """A browser asking for a page (not the API, not a static file): it gets HTML."""
    path = request.url.path
    if path.startswith(("/api/", "/static/")) or request.method not in ("GET", "HEAD"):
        return False
    return "text/html" in request.headers.get("accept", "")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(_: Request, exc: AppError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
        return JSONResponse(
            error_body(exc.code, exc.message), status_code=exc.status_code, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        return JSONResponse(
            error_body(
                "invalid",
                _describe(errors),
                details=[
                    {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
                    for e in errors
                ],
            ),
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 400 and exc.detail == BODY_PARSE_ERROR:
            # FastAPI's answer to a body that is not UTF-8: bad input like any other.
            return JSONResponse(
                error_body("invalid", "request body is not valid JSON (or not UTF-8)"),
                status_code=422,
            )
        if exc.status_code == 404 and wants_page(request):
            return templates.TemplateResponse(
                request, "not_found.html", {"path": request.url.path}, status_code=404
            )
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(
            error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(DataError)
    async def _unstorable(_: Request, exc: DataError) -> JSONResponse:
        # A value the database refuses (too long, out of range, not text): retrying the
        # same request cannot help, so this is the caller's 422, not an outage's 503.
        log.warning("web.value_refused error=%s", type(exc.orig).__name__)
        return JSONResponse(
            error_body(
                "invalid",
                "A value could not be stored (too long, out of range or not valid text); "
                "nothing was stored.",
            ),
            status_code=422,
        )

    @app.exception_handler(SQLAlchemyError)
    async def _database(_: Request, exc: SQLAlchemyError) -> JSONResponse:
        log.error("web.database_error error=%s", exc.__class__.__name__, exc_info=exc)
        return JSONResponse(
            error_body(
                "storage_unavailable",
                "The database is unavailable; nothing was stored. "
                "Retry the same request (with the same message_id) shortly.",
            ),
            status_code=503,
            headers={"Retry-After": "2"},
        )
