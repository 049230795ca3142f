"""One gate for text entering over HTTP: a NUL character or an unpaired UTF-16 surrogate
anywhere in the path, the query or a JSON or form body gets a 422 before any route runs.

PostgreSQL refuses such text (which the API used to answer with a fake 503 outage), the
encoder cannot read a lone surrogate, and SQLite would store what PostgreSQL refuses: one
check in front of every route makes both databases answer alike, for fields that exist
today and those added later. The Telegram webhook is left out: its updates are cleaned,
not refused (see ``bot.telegram.channel``); CSV uploads are checked cell by cell by the
import, which rejects the row and keeps the others.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from careloop.text import storable, unstorable
from web.errors import error_body

SKIPPED_PREFIXES = ("/telegram/", "/static/")
FORM = "application/x-www-form-urlencoded"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class StorableTextGuard:
    """Pure ASGI middleware: 422 (``code: invalid``) naming the field that holds a NUL
    character or an unpaired surrogate; every other request passes untouched (its body
    is read once here and handed on as it came)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(SKIPPED_PREFIXES):
            await self.app(scope, receive, send)
            return
        problem = _first(_url_problems(scope))
        media = Headers(scope=scope).get("content-type", "").partition(";")[0].strip().lower()
        if (
            problem is None
            and scope["method"] in BODY_METHODS
            and (_is_json(media) or media == FORM)
        ):
            body, disconnected = await _read_body(receive)
            if not disconnected:
                problem = _first(_json_problems(body) if _is_json(media) else _form_problems(body))
            receive = _replay(body, receive)
        if problem is None:
            await self.app(scope, receive, send)
            return
        loc, label, reason = problem
        response = JSONResponse(
            error_body(
                "invalid",
                f"{label} {reason}, which cannot be stored; remove it and send again",
                details=[{"loc": loc, "msg": reason, "type": "unstorable_text"}],
            ),
            status_code=422,
        )
        await response(scope, receive, send)


def _is_json(media: str) -> bool:
    """FastAPI reads a body without a content type as JSON too."""
    return media in ("", "application/json") or media.endswith("+json")


Problem = tuple[list[str | int], str, str]  # where (as FastAPI's ``loc``), label, reason


def _first(problems: Iterator[Problem]) -> Problem | None:
    return next(problems, None)


def _url_problems(scope: Scope) -> Iterator[Problem]:
    reason = unstorable(scope["path"])
    if reason:
        yield ["path"], "the URL path", reason
    query = scope.get("query_string", b"").decode("latin-1")
    yield from _pairs(parse_qsl(query, keep_blank_values=True), "query", "query parameter")


def _form_problems(body: bytes) -> Iterator[Problem]:
    pairs = parse_qsl(body.decode("latin-1"), keep_blank_values=True)
    yield from _pairs(pairs, "body", "form field")


def _pairs(pairs: list[tuple[str, str]], part: str, kind: str) -> Iterator[Problem]:
    for name, value in pairs:
        reason = unstorable(name) or unstorable(value)
        if reason:
            shown = storable(name)
            yield [part, shown], f"{kind} '{shown}'", reason


def _json_problems(body: bytes) -> Iterator[Problem]:
    try:
        data = json.loads(body)
    except ValueError:
        return  # the route answers what is wrong with it
    yield from _walk(data, [])


def _walk(value: Any, path: list[str | int]) -> Iterator[Problem]:
    if isinstance(value, str):
        reason = unstorable(value)
        if reason:
            shown = ".".join(map(str, path))
            yield ["body", *path], f"body field '{shown}'" if path else "the body", reason
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, [*path, index])
    elif isinstance(value, dict):
        for key, item in value.items():
            reason = unstorable(key)
            if reason:
                yield ["body", *path], f"a key in body field '{'.'.join(map(str, path))}'", reason
            else:
                yield from _walk(item, [*path, key])


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """The whole request body, and whether the client went away meanwhile."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks), True
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), False


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the route the body read here, then waits as before."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
