"""Response headers every page and API answer carries, and the access-log filter that
keeps web-chat session ids (the visitors' keys) out of the logs."""

from __future__ import annotations

import logging
import re
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# No inline script or style, nothing from another origin, no framing: scripts live in
# web/static/*.js, charts draw on canvas, the API docs are served from web/static/vendor.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
STATIC_PREFIX = "/static/"


class SecurityHeaders:
    """Pure ASGI middleware (streams such as server-sent events pass untouched): the
    content security policy, ``nosniff``, no framing, a same-origin referrer policy, HSTS
    in production, and ``Cache-Control: no-store`` on everything but static files, so no
    staff page, staff JSON or chat transcript is kept by a browser or proxy cache."""

    def __init__(self, app: ASGIApp, *, hsts: bool = False) -> None:
        self.app = app
        self.headers = {
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "same-origin",
            "Cross-Origin-Opener-Policy": "same-origin",
        }
        if hsts:
            self.headers["Strict-Transport-Security"] = "max-age=31536000"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        private = not scope["path"].startswith(STATIC_PREFIX)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers[name] = value
                if private:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


_CHAT_SESSION_PATH = re.compile(r"(/api/v1/chat/sessions/)[^/?#\s]+")
_SESSION_QUERY = re.compile(r"([?&](?:session|session_id|customer_token)=)[^&#\s]*")
REDACTED = "[redacted]"


def redact_chat_sessions(text: str) -> str:
    """``text`` with web-chat session ids and customer sign-in tokens replaced: whoever
    knows one reads the chat."""
    text = _CHAT_SESSION_PATH.sub(rf"\g<1>{REDACTED}", text)
    return _SESSION_QUERY.sub(rf"\g<1>{REDACTED}", text)


class RedactChatSessions(logging.Filter):
    """For ``uvicorn.access``: redacts session ids in the logged request line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_arg(a) for a in record.args)
        return True


def _redact_arg(value: Any) -> Any:
    return redact_chat_sessions(value) if isinstance(value, str) else value


def install_access_log_filter() -> None:
    """Add the filter to uvicorn's access logger once (idempotent)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactChatSessions) for f in access.filters):
        access.addFilter(RedactChatSessions())
