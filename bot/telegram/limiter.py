"""Outbound pacing for Telegram: at most N messages in any sliding second, 1 per chat per
interval, and a global pause when Telegram answers 429 anyway.

A sliding-window log of the last N sends rather than a token bucket: a bucket lets a full
burst through after an idle spell, which Telegram's flood control punishes. Each send holds
its place in the log until its HTTP request has *finished*; the window is counted from that
moment. The request reached Telegram before it finished, so however much the network or a
busy event loop delays one request against another, no N+1 messages can arrive at Telegram
within one window (counting from the start of the request would need a guessed margin).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

_POLL = 0.005  # how often a waiter looks again while the oldest send is still in flight


class _Send:
    __slots__ = ("done_at",)

    def __init__(self) -> None:
        self.done_at = math.inf  # in flight


class RateLimiter:
    def __init__(
        self,
        per_second: float = 30.0,
        chat_interval: float = 1.0,
        *,
        margin: float = 0.002,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_second <= 0 or chat_interval < 0:
            raise ValueError("rates must be positive")
        self.capacity = max(1, int(per_second))
        self.window = self.capacity / per_second + margin
        self.chat_interval = chat_interval + margin if chat_interval else 0.0
        self._clock = clock
        self._sends: deque[_Send] = deque(maxlen=self.capacity)
        self._chat_free_at: dict[str, float] = {}
        self._chat_busy: set[str] = set()
        self._paused_until = 0.0
        self._lock = asyncio.Lock()

    def pause(self, seconds: float) -> None:
        """Send nothing for ``seconds`` (after Telegram's ``retry_after``)."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    @asynccontextmanager
    async def slot(self, chat: str) -> AsyncIterator[None]:
        """Wait for the right to send one message to ``chat``; hold it while sending."""
        send = await self._acquire(chat)
        try:
            yield
        finally:
            now = self._clock()
            send.done_at = now
            self._chat_busy.discard(chat)
            if self.chat_interval:
                self._chat_free_at[chat] = now + self.chat_interval
                if len(self._chat_free_at) > 10_000:
                    self._forget_idle_chats(now)

    def _chat_wait(self, chat: str, now: float) -> float:
        if chat in self._chat_busy:
            return _POLL
        return self._chat_free_at.get(chat, 0.0) - now

    async def _acquire(self, chat: str) -> _Send:
        while (wait := self._chat_wait(chat, self._clock())) > 0:
            await asyncio.sleep(wait)
        async with self._lock:
            while True:
                now = self._clock()
                wait = max(self._paused_until - now, self._chat_wait(chat, now))
                if len(self._sends) == self.capacity:
                    oldest = self._sends[0].done_at
                    wait = max(wait, _POLL if oldest == math.inf else oldest + self.window - now)
                if wait <= 0:
                    break
                await asyncio.sleep(wait)
            send = _Send()
            self._sends.append(send)
            self._chat_busy.add(chat)
            return send

    def _forget_idle_chats(self, now: float) -> None:
        for chat in [c for c, t in self._chat_free_at.items() if t <= now]:
            del self._chat_free_at[chat]
