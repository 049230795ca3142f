"""Telegram's webhook: updates posted by Telegram, authenticated by the secret token header."""

from __future__ import annotations

import hmac
import json
import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from careloop.config import TelegramMode
from web.deps import StateDep
from web.errors import error_body

log = logging.getLogger(__name__)
router = APIRouter(tags=["telegram"])
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)


@router.post("/telegram/webhook", include_in_schema=False)
async def telegram_webhook(request: Request, state: StateDep) -> JSONResponse:
    """Process one update. 403 without the right secret; 503 (only while the database is
    away) asks Telegram to retry; an update that cannot be processed is kept as a dead
    letter and acknowledged with 200."""
    channel = state.telegram
    settings = state.settings
    if channel is None or settings.telegram_mode is not TelegramMode.webhook:
        return JSONResponse(error_body("not_found", "the Telegram webhook is off"), 404)
    expected = settings.telegram_webhook_secret
    given = request.headers.get(SECRET_HEADER, "")
    if expected is None or not hmac.compare_digest(
        given.encode(), expected.get_secret_value().encode()
    ):
        log.warning("telegram.webhook.forbidden: wrong or missing secret token")
        return JSONResponse(error_body("forbidden", "wrong or missing secret token"), 403)
    try:
        data = json.loads(await request.body())
    except ValueError:
        return JSONResponse(error_body("invalid_request", "body is not valid JSON"), 400)
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        return JSONResponse(error_body("invalid_request", "not a Telegram update"), 400)
    try:
        await channel.process_webhook(data)
    except Exception as exc:  # the database is away (the channel dead-letters the rest)
        log.warning(
            "telegram.webhook.retry_later update=%s error=%s",
            data.get("update_id"),
            type(exc).__name__,
        )
        return JSONResponse(
            error_body("unavailable", "the database is unavailable; retry later"),
            503,
            headers={"Retry-After": "5"},
        )
    return JSONResponse({"ok": True})
