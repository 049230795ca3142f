"""A small fake Telegram Bot API server on 127.0.0.1 for tests and benchmarks.

It speaks the real HTTP protocol python-telegram-bot uses (``/bot<token>/<method>``, form or
JSON parameters, ``{"ok": ..., "result": ...}`` answers) for the methods careloop calls,
records everything it was sent, enforces Telegram's flood limits (answering 429 with
``retry_after``) and can be told to refuse chats (403, "bot was blocked by the user") or to
fail the next requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

TOKEN = "123456:TEST-token"
BOT_USER = {
    "id": 123456,
    "is_bot": True,
    "first_name": "careloop test",
    "username": "careloop_test_bot",
}
JSON_FIELDS = {"reply_markup", "allowed_updates", "offset", "limit", "timeout", "message_id"}


@dataclass
class Sent:
    chat_id: str
    text: str
    reply_markup: dict[str, Any] | None
    message_id: int
    at: float


@dataclass
class FakeTelegram:
    """State shared between the server thread and the test."""

    global_per_second: int = 30
    chat_interval: float = 1.0
    sent: list[Sent] = field(default_factory=list)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    too_many: int = 0
    blocked: set[str] = field(default_factory=set)
    fail_next: deque[tuple[int, int]] = field(default_factory=deque)  # (status, retry_after)
    webhook: dict[str, Any] = field(default_factory=dict)
    _updates: list[dict[str, Any]] = field(default_factory=list)
    _accepted: deque[float] = field(default_factory=deque)
    _chat_last: dict[str, float] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(10_000))
    _update_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _loop: asyncio.AbstractEventLoop | None = None
    _new_update: asyncio.Event | None = None
    base_url: str = ""

    # -- what tests call -----------------------------------------------------------------

    @property
    def api_url(self) -> str:
        """The value for ``CARELOOP_TELEGRAM_API_URL``."""
        return self.base_url

    def push(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue an update for ``getUpdates``; returns it (with its ``update_id``)."""
        with self._lock:
            update.setdefault("update_id", next(self._update_ids))
            self._updates.append(update)
        if self._loop is not None and self._new_update is not None:
            self._loop.call_soon_threadsafe(self._new_update.set)
        return update

    def text_update(
        self,
        chat_id: int,
        text: str,
        *,
        first_name: str = "Ann",
        language_code: str | None = None,
    ) -> dict[str, Any]:
        """An update with a private text message (not queued; see :meth:`push`); the user's
        ``language_code`` is their Telegram app's language."""
        with self._lock:
            update_id = next(self._update_ids)
            message_id = next(self._ids)
        user: dict[str, Any] = {"id": chat_id, "is_bot": False, "first_name": first_name}
        if language_code is not None:
            user["language_code"] = language_code
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": first_name},
            "from": user,
            "text": text,
        }
        if text.startswith("/"):
            length = len(text.split(" ", 1)[0])
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return {"update_id": update_id, "message": message}

    def button_update(self, chat_id: int, data: str, *, message_id: int) -> dict[str, Any]:
        """An update for a press on an inline button of our message ``message_id``."""
        with self._lock:
            update_id = next(self._update_ids)
        user = {"id": chat_id, "is_bot": False, "first_name": "Ann"}
        return {
            "update_id": update_id,
            "callback_query": {
                "id": f"cq{update_id}",
                "from": user,
                "chat_instance": f"ci{chat_id}",
                "data": data,
                "message": {
                    "message_id": message_id,
                    "date": int(time.time()),
                    "chat": {"id": chat_id, "type": "private", "first_name": "Ann"},
                    "from": BOT_USER,
                    "text": "…",
                },
            },
        }

    def sent_to(self, chat_id: int | str) -> list[Sent]:
        with self._lock:
            return [s for s in self.sent if s.chat_id == str(chat_id)]

    def calls_of(self, method: str) -> list[dict[str, Any]]:
        with self._lock:
            return [params for name, params in self.calls if name == method]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.02)
        raise AssertionError("the fake Telegram server did not see what the test waited for")

    # -- the HTTP side -------------------------------------------------------------------

    async def _params(self, request: Request) -> dict[str, Any]:
        if request.headers.get("content-type", "").startswith("application/json"):
            body = await request.body()
            return dict(json.loads(body)) if body else {}
        form = await request.form()
        params: dict[str, Any] = {}
        for key, value in form.items():
            raw = value if isinstance(value, str) else ""
            params[key] = json.loads(raw) if key in JSON_FIELDS else raw
        return params

    async def endpoint(self, request: Request) -> JSONResponse:
        token = request.path_params["token"]
        method = request.path_params["method"]
        if token != TOKEN:
            return _error(401, "Unauthorized")
        params = await self._params(request)
        with self._lock:
            self.calls.append((method, params))
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return _error(404, "Not Found: method not found")
        result: JSONResponse = await handler(params)
        return result

    async def _m_getMe(self, params: dict[str, Any]) -> JSONResponse:
        return _ok(BOT_USER)

    async def _m_getUpdates(self, params: dict[str, Any]) -> JSONResponse:
        offset = int(params.get("offset") or 0)
        timeout = min(float(params.get("timeout") or 0), 2.0)
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
                ready = list(self._updates[: int(params.get("limit") or 100)])
            if ready or time.monotonic() >= deadline:
                return _ok(ready)
            assert self._new_update is not None
            self._new_update.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._new_update.wait(), timeout=max(0.01, deadline - time.monotonic())
                )

    async def _m_sendMessage(self, params: dict[str, Any]) -> JSONResponse:
        chat_id = str(params.get("chat_id", ""))
        now = time.monotonic()
        with self._lock:
            if self.fail_next:
                status, retry_after = self.fail_next.popleft()
                if status == 429:
                    self.too_many += 1
                    return _error(429, "Too Many Requests", retry_after=retry_after)
                return _error(status, "Internal Server Error")
            if chat_id in self.blocked:
                return _error(403, "Forbidden: bot was blocked by the user")
            while self._accepted and self._accepted[0] <= now - 1.0:
                self._accepted.popleft()
            last = self._chat_last.get(chat_id)
            if len(self._accepted) >= self.global_per_second or (
                last is not None and now - last < self.chat_interval
            ):
                self.too_many += 1
                return _error(429, "Too Many Requests: retry after 1", retry_after=1)
            self._accepted.append(now)
            self._chat_last[chat_id] = now
            message_id = next(self._ids)
            self.sent.append(
                Sent(
                    chat_id,
                    str(params.get("text", "")),
                    params.get("reply_markup"),
                    message_id,
                    now,
                )
            )
        return _ok(
            {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": {"id": int(chat_id), "type": "private"},
                "from": BOT_USER,
                "text": params.get("text", ""),
            }
        )

    async def _m_answerCallbackQuery(self, params: dict[str, Any]) -> JSONResponse:
        return _ok(True)

    async def _m_editMessageReplyMarkup(self, params: dict[str, Any]) -> JSONResponse:
        return _ok(
            {
                "message_id": int(params.get("message_id") or 0),
                "date": int(time.time()),
                "chat": {"id": int(params.get("chat_id") or 0), "type": "private"},
                "text": "…",
            }
        )

    async def _m_setWebhook(self, params: dict[str, Any]) -> JSONResponse:
        with self._lock:
            self.webhook = params
        return _ok(True)

    async def _m_deleteWebhook(self, params: dict[str, Any]) -> JSONResponse:
        with self._lock:
            self.webhook = {}
        return _ok(True)


def _ok(result: Any) -> JSONResponse:
    return JSONResponse({"ok": True, "result": result})


def _error(status: int, description: str, *, retry_after: int | None = None) -> JSONResponse:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return JSONResponse(body, status_code=status)


class FakeTelegramServer:
    """Runs a :class:`FakeTelegram` with uvicorn in a thread; use as a context manager."""

    def __init__(self, fake: FakeTelegram | None = None) -> None:
        self.fake = fake or FakeTelegram()
        app = Starlette(
            routes=[
                Route("/bot{token}/{method}", self.fake.endpoint, methods=["GET", "POST"]),
            ],
            lifespan=self._lifespan,
        )
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_level="warning", access_log=False
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self.fake._loop = asyncio.get_running_loop()
        self.fake._new_update = asyncio.Event()
        yield

    def __enter__(self) -> FakeTelegram:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fake Telegram server did not start")
            time.sleep(0.01)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.fake.base_url = f"http://127.0.0.1:{port}"
        return self.fake

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
