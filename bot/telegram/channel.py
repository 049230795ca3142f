"""Telegram as a channel of the conversation engine, on python-telegram-bot v22.

Updates come in by long polling (``Updater``) or through the web app's webhook route; both
go to :meth:`TelegramChannel.dispatch`, which turns them into :class:`InboundMessage` s for
the engine. Replies are never sent from here: the engine writes them to the outbox and the
:class:`TelegramSender` delivers them within Telegram's limits. An update that arrives twice
(a webhook retry, a restart mid-poll) maps to the same message id, which the engine stores
and answers once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker
from telegram import Bot, CallbackQuery, Chat, Update
from telegram.error import BadRequest
from telegram.ext import Application, ContextTypes, TypeHandler
from telegram.request import HTTPXRequest

from bot.channels import Capabilities
from bot.engine import Engine
from bot.inbound import Command, InboundMessage
from bot.telegram.sender import TelegramSender
from careloop.config import Settings, TelegramMode
from careloop.text import storable
from crm.conversations import dead_letters, outbox
from crm.customers.links import parse_link_token
from crm.db import session_scope
from crm.models import Channel, Message
from crm.surveys.service import BUTTON_PREFIX as SURVEY_BUTTON_PREFIX

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message", "callback_query"]
COMMANDS = {
    "start": Command.start,
    "help": Command.help,
    "agent": Command.agent,
    "human": Command.agent,
    "stop": Command.stop,
}
ACTIONS = {"consent:yes": Command.consent}


def _api(settings: Settings) -> str:
    return settings.telegram_api_url.rstrip("/")


def make_bot(settings: Settings) -> Bot:
    """A bare Bot for one-off calls (webhook registration, ``getMe``)."""
    if settings.telegram_token is None:
        raise ValueError("no Telegram token configured")
    api = _api(settings)
    return Bot(
        settings.telegram_token.get_secret_value(),
        base_url=f"{api}/bot",
        base_file_url=f"{api}/file/bot",
        request=HTTPXRequest(
            connection_pool_size=16,
            connect_timeout=5.0,
            read_timeout=15.0,
            write_timeout=15.0,
            pool_timeout=15.0,
        ),
    )


class TelegramChannel:
    """The Telegram channel (see :class:`bot.channels.Channel`): updates in, the outbox
    out through :class:`TelegramSender`, which marks a message sent once Telegram took it.

    Between :meth:`start` and :meth:`stop` it is the engine's channel for Telegram, so the
    bot's replies come to :meth:`send`."""

    kind = Channel.telegram
    capabilities = Capabilities(buttons=True, push=True)

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        session_factory: sessionmaker[Session],
        *,
        poll_timeout: float = 10.0,
        may_send: Callable[[], bool] | None = None,
    ) -> None:
        if settings.telegram_token is None or not settings.telegram_enabled:
            raise ValueError("no Telegram token configured")
        self.settings = settings
        self.engine = engine
        self.session_factory = session_factory
        self.mode = settings.telegram_mode
        self.poll_timeout = poll_timeout
        api = _api(settings)
        builder = (
            Application.builder()
            .token(settings.telegram_token.get_secret_value())
            .base_url(f"{api}/bot")
            .base_file_url(f"{api}/file/bot")
            .connection_pool_size(64)
            .connect_timeout(5.0)
            .read_timeout(15.0)
            .write_timeout(15.0)
            .pool_timeout(15.0)
        )
        if self.mode is TelegramMode.webhook:
            builder = builder.updater(None)
        self.application = builder.build()
        self.application.add_handler(TypeHandler(Update, self._on_update))
        self.application.add_error_handler(self._on_error)
        self.sender = TelegramSender.from_settings(
            self.application.bot, session_factory, settings, may_send=may_send
        )
        self._sender_task: asyncio.Task[None] | None = None

    def send(self, session: Session, messages: Sequence[Message]) -> None:
        """The replies wait in the outbox; the sender takes them once they are committed
        (within Telegram's limits, with its retries)."""
        event.listen(session, "after_commit", self._committed, once=True)

    def _committed(self, session: Session) -> None:
        self.wake()

    def mark_delivered(self, session: Session, messages: Sequence[Message]) -> None:
        """Telegram reports nothing after accepting a message: accepted counts (``sent``);
        the sender records that, with Telegram's message id, for what it sends."""
        session.flush()  # (messages written in this transaction have their ids then)
        for message in messages:
            outbox.mark_sent(
                session,
                message_id=message.id,
                channel_message_id=message.channel_message_id,
                attempts=message.delivery_attempts,
            )

    def wake(self) -> None:
        """Outbound messages are committed: the sender sends them now."""
        self.sender.wake()

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Connect (``getMe``), start the sender and, in polling mode, the long poll."""
        await self.application.initialize()
        await self.application.start()
        if self.mode is TelegramMode.polling and self.application.updater is not None:
            await self.application.updater.start_polling(
                timeout=dt.timedelta(seconds=self.poll_timeout),
                allowed_updates=ALLOWED_UPDATES,
            )
        self._sender_task = asyncio.create_task(self.sender.run(), name="telegram-sender")
        self.engine.channels.register(self)
        log.info(
            "telegram.on mode=%s bot=@%s", self.mode.value, self.application.bot.username or "?"
        )

    async def stop(self) -> None:
        self.engine.channels.unregister(self)
        if self.application.updater is not None and self.application.updater.running:
            await self.application.updater.stop()
        await self.sender.stop()
        if self._sender_task is not None:
            await asyncio.gather(self._sender_task, return_exceptions=True)
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()
        log.info("telegram.stopped")

    # -- updates -------------------------------------------------------------------------

    async def process_webhook(self, data: dict[str, Any]) -> None:
        """Handle one webhook update. Only a passing database outage propagates (so
        Telegram retries the update); an update that cannot be processed becomes a dead
        letter, since a retry would fail the same way, for as long as Telegram retries."""
        try:
            update = Update.de_json(data, self.application.bot)
            await self.dispatch(update)
        except Exception as exc:
            if dead_letters.passing_outage(exc):
                raise
            await self._dead_letter(data, exc)

    async def _on_update(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not isinstance(update, Update):
            return
        try:
            await self.dispatch(update)
        except Exception as exc:
            if dead_letters.passing_outage(exc):
                raise
            await self._dead_letter(update.to_dict(), exc)

    async def _dead_letter(self, data: dict[str, Any], error: Exception) -> None:
        """Keep the update for an operator; a failure to store it propagates."""
        update_id = data.get("update_id")

        def work() -> int:
            with session_scope(self.session_factory) as session:
                letter = dead_letters.record(
                    session,
                    update_id=update_id if isinstance(update_id, int) else None,
                    payload=data,
                    error=error,
                )
                return letter.id

        letter_id = await asyncio.to_thread(work)
        log.warning(
            "telegram.update.dead_letter id=%s update=%s error=%s",
            letter_id,
            update_id,
            type(error).__name__,
        )
        log.debug("telegram.update.dead_letter.traceback", exc_info=error)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("telegram.update.failed", exc_info=context.error)

    async def dispatch(self, update: Update) -> None:
        """Turn one update into at most one engine call; anything else is ignored."""
        if update.callback_query is not None:
            await self._on_button(update.callback_query)
            return
        message = update.message
        chat = update.effective_chat
        if message is None or chat is None or chat.type != Chat.PRIVATE:
            log.debug("telegram.update.ignored id=%s", update.update_id)
            return
        user = message.from_user
        text = (message.text or "").strip()
        inbound = InboundMessage(
            channel=Channel.telegram,
            user_id=str(chat.id),
            text=text[: self.settings.max_message_chars] or "[non-text message]",
            message_id=f"{chat.id}:{message.message_id}",
            username=user.username if user else None,
            first_name=user.first_name if user else chat.first_name,
            locale=user.language_code if user else None,
        )
        if not text:
            inbound = replace(inbound, command=Command.unsupported)
        elif text.startswith("/"):
            name, _, argument = text[1:].partition(" ")
            command = COMMANDS.get(name.split("@", 1)[0].lower(), Command.help)
            link = None
            if command is Command.start and argument.strip():
                secret = self.settings.secret_key.get_secret_value()
                link = parse_link_token(argument.strip(), secret)
            inbound = replace(
                inbound, command=command, argument=argument.strip() or None, link_customer_id=link
            )
        await self._handle(inbound)

    async def _on_button(self, query: CallbackQuery) -> None:
        await query.answer()
        if query.message is not None:
            try:
                await query.edit_message_reply_markup(reply_markup=None)
            except BadRequest as exc:  # already removed (a double tap) or too old to edit
                log.debug("telegram.buttons.not_removed: %s", exc)
        data = query.data or ""
        chat_id = query.message.chat.id if query.message is not None else query.from_user.id
        inbound = InboundMessage(
            channel=Channel.telegram,
            user_id=str(chat_id),
            text=data,
            message_id=f"cb:{query.id}",
            username=query.from_user.username,
            first_name=query.from_user.first_name,
            locale=query.from_user.language_code,
        )
        kind, _, value = data.partition(":")
        if kind == "say" and value:
            inbound = replace(inbound, text=value[: self.settings.max_message_chars])
        elif data in ACTIONS:
            inbound = replace(inbound, command=ACTIONS[data])
        elif data.startswith(SURVEY_BUTTON_PREFIX):
            inbound = replace(inbound, button=data)
        else:
            log.info("telegram.button.unknown data=%r", data[:64])
            return
        await self._handle(inbound)

    async def _handle(self, inbound: InboundMessage) -> None:
        # Telegram's text may hold what no database stores (a NUL, a lone surrogate); the
        # customer cannot be asked to resend, so it is cleaned rather than refused.
        inbound = replace(
            inbound,
            user_id=storable(inbound.user_id),
            text=storable(inbound.text),
            username=_storable_or_none(inbound.username),
            first_name=_storable_or_none(inbound.first_name),
            argument=_storable_or_none(inbound.argument),
            button=_storable_or_none(inbound.button),
        )

        def work() -> None:
            with session_scope(self.session_factory) as session:
                self.engine.handle(session, inbound)

        await asyncio.to_thread(work)  # (the replies reach send(), which wakes the sender)


def _storable_or_none(value: str | None) -> str | None:
    return None if value is None else storable(value)
