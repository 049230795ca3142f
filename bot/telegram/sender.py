"""The one Telegram sender: drains the outbox within Telegram's limits, with retries.

Messages for one chat go out in order, one worker per chat; chats proceed in parallel under
the shared :class:`RateLimiter`. Outcomes:

- accepted → ``sent`` with the Telegram message id (``<chat>:<message_id>``);
- 429 → pause everything for ``retry_after`` and try the same message again;
- network trouble / 5xx → retry with exponential backoff, up to ``max_attempts``;
- 403 (the customer blocked the bot) → ``failed``, the identity is marked unreachable and the
  chat's other queued messages fail too, with no further attempts;
- 400 (e.g. chat not found) → ``failed``, never retried.

At-most-once messages (``payload["at_most_once"]``: campaign messages) commit
``attempt_started_at`` just before their request leaves, and at most
``at_most_once_in_flight`` of them are in flight at a time, so a crash leaves at most that
many in doubt. If the request then fails in a way
that leaves it unknown whether Telegram got it (a read timeout, a dropped connection), or
the process dies, the message becomes ``unconfirmed`` instead of being sent again.

With several processes only one sends (``may_send``: the scheduler's leader). The gate is
asked before every message, inside its rate-limit slot: a process that stops leading sends
nothing more and hands what it had claimed back to the outbox, for the next leader.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import httpx
from sqlalchemy.orm import Session, sessionmaker
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError

from bot.telegram.limiter import RateLimiter
from careloop.config import Settings
from crm.conversations import outbox
from crm.customers import service as customers
from crm.db import session_scope
from crm.models import Channel

log = logging.getLogger(__name__)
_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
T = TypeVar("T")


class _NotSending(Exception):
    """This process may no longer send (another one leads now)."""


def keyboard(payload: dict[str, Any]) -> InlineKeyboardMarkup | None:
    """Inline buttons for a message's ``payload["buttons"]``: one per row, or
    ``payload["row_width"]`` per row (a survey's scale)."""
    buttons = [
        InlineKeyboardButton(b["text"], callback_data=b["data"])
        for b in payload.get("buttons") or []
    ]
    if not buttons:
        return None
    width = max(1, int(payload.get("row_width") or 1))
    return InlineKeyboardMarkup([buttons[i : i + width] for i in range(0, len(buttons), width)])


def surely_not_sent(exc: TelegramError) -> bool:
    """True when the request certainly did not reach Telegram, or Telegram answered it with
    an error: a retry cannot duplicate the message. Transport errors after connecting (read
    timeouts, dropped connections) leave it unknown."""
    cause = exc.__cause__
    if cause is None:
        return True  # an HTTP answer from Telegram (e.g. 5xx), not a transport failure
    return isinstance(cause, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


def retry_seconds(exc: RetryAfter) -> float:
    value: Any = exc.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


class TelegramSender:
    def __init__(
        self,
        bot: Bot,
        session_factory: sessionmaker[Session],
        *,
        limiter: RateLimiter | None = None,
        max_attempts: int = 5,
        backoff: float = 0.5,
        poll_interval: float = 0.5,
        batch: int = 150,
        claim_lease: dt.timedelta = dt.timedelta(minutes=5),
        stale_sweep_seconds: float = 60.0,
        at_most_once_in_flight: int = 4,
        may_send: Callable[[], bool] | None = None,
    ) -> None:
        self.bot = bot
        self.session_factory = session_factory
        self.limiter = limiter or RateLimiter()
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.poll_interval = poll_interval
        self.batch = batch
        self.claim_lease = claim_lease
        self.stale_sweep_seconds = stale_sweep_seconds
        self._at_most_once = asyncio.Semaphore(at_most_once_in_flight)
        # Whether this process sends now: with several processes only one does (the
        # scheduler's leader), so that one limiter keeps Telegram's limits for all of them.
        self.may_send = may_send or (lambda: True)
        self._queues: dict[str, deque[outbox.OutboxItem]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self.stats = {"sent": 0, "failed": 0, "retry_after": 0, "retries": 0, "unconfirmed": 0}

    @classmethod
    def from_settings(
        cls,
        bot: Bot,
        session_factory: sessionmaker[Session],
        settings: Settings,
        *,
        may_send: Callable[[], bool] | None = None,
    ) -> TelegramSender:
        """The sender every process uses (the web app's and ``careloop bot``'s channel,
        ``careloop campaigns send``): Telegram's limits, attempts and the outbox lease come
        from the settings."""
        return cls(
            bot,
            session_factory,
            limiter=RateLimiter(settings.telegram_rate_per_second, settings.telegram_chat_interval),
            max_attempts=settings.telegram_max_attempts,
            claim_lease=dt.timedelta(seconds=settings.outbox_claim_lease_seconds),
            stale_sweep_seconds=min(60.0, settings.outbox_claim_lease_seconds),
            may_send=may_send,
        )

    # -- control -------------------------------------------------------------------------

    def wake(self) -> None:
        """New messages are in the outbox: look now rather than at the next poll."""
        if self._loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._wake.set()
        else:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        """Deliver until :meth:`stop`; messages written by any process are picked up."""
        self._loop = asyncio.get_running_loop()
        next_sweep = 0.0
        sending: bool | None = None
        while not self._stopping:
            try:
                allowed = self.may_send()
                if allowed != sending:
                    sending = allowed
                    log.info("telegram.sender.%s", "sending" if allowed else "standby")
                if sending:  # (else another process sends; it claims for itself)
                    if time.monotonic() >= next_sweep:  # claims of a process that died
                        next_sweep = time.monotonic() + self.stale_sweep_seconds
                        await self.release_stale()
                    await self._claim()
            except Exception:  # the database may be briefly away; try again next round
                log.exception("telegram.outbox.claim_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval)
            self._wake.clear()

    async def stop(self) -> None:
        """Stop claiming, cancel the chat workers and hand unsent claims back to the outbox."""
        self._stopping = True
        self._wake.set()
        workers = list(self._workers.values())
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        unsent = [item.message_id for q in self._queues.values() for item in q]
        self._queues.clear()
        self._workers.clear()
        if unsent:
            await self._db(lambda s: outbox.release(s, message_ids=unsent))

    async def drain(self, *, timeout: float = 60.0) -> None:
        """Deliver everything due now and return (for the CLI, tests and benchmarks)."""
        self._loop = asyncio.get_running_loop()

        async def until_empty() -> None:
            while True:
                await self._claim()
                if self._workers:
                    await asyncio.gather(*list(self._workers.values()), return_exceptions=True)
                    continue
                return

        await asyncio.wait_for(until_empty(), timeout=timeout)

    # -- internals -----------------------------------------------------------------------

    async def _db(self, work: Callable[[Session], T]) -> T:
        def run() -> T:
            with session_scope(self.session_factory) as session:
                return work(session)

        return await asyncio.to_thread(run)

    async def release_stale(self) -> None:
        """Hand claims of a process that died back (or mark them unconfirmed); the claims
        still queued here are this process's own, however old."""
        mine = [item.message_id for queue in self._queues.values() for item in queue]
        released = await self._db(
            lambda s: outbox.release_stale(
                s, channel=Channel.telegram, older_than=self.claim_lease, keep=mine
            )
        )
        if released:
            log.warning("telegram.outbox.released_stale count=%d", released)

    async def _claim(self) -> None:
        room = self.batch - sum(len(q) for q in self._queues.values())  # incl. in flight
        if room <= 0:
            return
        items = await self._db(lambda s: outbox.claim_due(s, channel=Channel.telegram, limit=room))
        for item in items:
            chat = item.recipient or f"missing:{item.message_id}"
            self._queues.setdefault(chat, deque()).append(item)
            if chat not in self._workers:
                self._workers[chat] = asyncio.create_task(self._worker(chat))

    async def _worker(self, chat: str) -> None:
        queue = self._queues[chat]
        try:
            while queue:
                try:
                    if queue[0].payload.get("at_most_once"):
                        async with self._at_most_once:
                            keep_going = await self._deliver(queue[0])
                    else:
                        keep_going = await self._deliver(queue[0])
                except _NotSending:  # nothing of this chat's queue was sent: hand it back
                    unsent = [item.message_id for item in queue]
                    queue.clear()
                    await self._db(partial(outbox.release, message_ids=unsent))
                    log.debug("telegram.send.stopped chat=%s released=%d", chat, len(unsent))
                    return
                queue.popleft()
                if not keep_going:  # the chat is unreachable: fail what is left for it
                    rest = [item.message_id for item in queue]
                    queue.clear()
                    await self._db(
                        partial(
                            outbox.mark_failed,
                            message_ids=rest,
                            error="recipient unreachable",
                        )
                    )
                    self.stats["failed"] += len(rest)
        finally:
            if not queue:
                self._queues.pop(chat, None)
            self._workers.pop(chat, None)

    async def _deliver(self, item: outbox.OutboxItem) -> bool:
        """Deliver one message; False when its chat can no longer be reached."""
        if item.recipient is None or not item.reachable:
            await self._fail(item, "recipient unreachable", attempts=None)
            return False
        attempts = item.attempts
        at_most_once = bool(item.payload.get("at_most_once"))
        while True:
            if not self.may_send():  # (without waiting for a rate-limit slot first)
                raise _NotSending
            attempts += 1
            try:
                async with self.limiter.slot(item.recipient):
                    if not self.may_send():  # it may have changed while the slot was awaited
                        raise _NotSending
                    if at_most_once:
                        await self._db(partial(outbox.start_attempt, message_id=item.message_id))
                    sent = await self.bot.send_message(
                        chat_id=item.recipient,
                        text=item.text,
                        reply_markup=keyboard(item.payload),
                        link_preview_options=_NO_PREVIEW,  # (a tracking page, no card)
                    )
            except RetryAfter as exc:
                seconds = retry_seconds(exc)
                self.stats["retry_after"] += 1
                log.warning("telegram.send.retry_after seconds=%.1f", seconds)
                self.limiter.pause(seconds)
                if attempts >= self.max_attempts:
                    await self._fail(item, str(exc), attempts=attempts)
                    return True
            except Forbidden as exc:
                error = str(exc)
                log.info("telegram.send.forbidden identity=%s: %s", item.identity_id, error)
                await self._db(
                    partial(self._unreachable, item=item, error=error, attempts=attempts)
                )
                self.stats["failed"] += 1
                return False
            except BadRequest as exc:
                log.warning("telegram.send.rejected message=%s: %s", item.message_id, exc)
                await self._fail(item, str(exc), attempts=attempts)
                return True
            except TelegramError as exc:  # network errors, timeouts, 5xx
                if at_most_once and not surely_not_sent(exc):
                    log.warning("telegram.send.unconfirmed message=%s: %s", item.message_id, exc)
                    await self._db(
                        partial(
                            outbox.mark_unconfirmed, message_ids=[item.message_id], error=str(exc)
                        )
                    )
                    self.stats["unconfirmed"] += 1
                    return True
                if attempts >= self.max_attempts:
                    log.warning(
                        "telegram.send.gave_up message=%s attempts=%d: %s",
                        item.message_id,
                        attempts,
                        exc,
                    )
                    await self._fail(item, str(exc), attempts=attempts)
                    return True
                self.stats["retries"] += 1
                await asyncio.sleep(self.backoff * 2 ** (attempts - item.attempts - 1))
            else:
                ref = f"{sent.chat.id}:{sent.message_id}"
                await self._db(
                    partial(
                        outbox.mark_sent,
                        message_id=item.message_id,
                        channel_message_id=ref,
                        attempts=attempts,
                    )
                )
                self.stats["sent"] += 1
                return True

    async def _fail(self, item: outbox.OutboxItem, error: str, *, attempts: int | None) -> None:
        await self._db(
            partial(
                outbox.mark_failed, message_ids=[item.message_id], error=error, attempts=attempts
            )
        )
        self.stats["failed"] += 1

    @staticmethod
    def _unreachable(session: Session, item: outbox.OutboxItem, error: str, attempts: int) -> None:
        outbox.mark_failed(session, message_ids=[item.message_id], error=error, attempts=attempts)
        if item.identity_id is not None:
            customers.mark_unreachable(session, identity_id=item.identity_id, reason="blocked_bot")
