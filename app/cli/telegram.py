"""`careloop telegram ...`: webhook registration and deep links."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

import typer

from app.cli.common import fail, load_settings, telegram_settings
from careloop.errors import AppError

telegram_app = typer.Typer(
    help="Telegram: webhook registration and deep links.", no_args_is_help=True
)


@telegram_app.command("set-webhook")
def telegram_set_webhook(
    url: Annotated[str, typer.Argument(help="Public HTTPS URL of /telegram/webhook.")],
    drop_pending: Annotated[
        bool, typer.Option(help="Discard updates Telegram queued while no one listened.")
    ] = False,
) -> None:
    """Tell Telegram to post updates to URL, signed with CARELOOP_TELEGRAM_WEBHOOK_SECRET."""
    from bot.telegram.channel import ALLOWED_UPDATES, make_bot

    settings = telegram_settings()
    secret = settings.telegram_webhook_secret
    if secret is None or not secret.get_secret_value():
        raise fail("set CARELOOP_TELEGRAM_WEBHOOK_SECRET first (the webhook route checks it)")
    if not url.startswith(("https://", "http://")):
        raise fail(f"not a URL: {url!r}")

    async def run() -> None:
        async with make_bot(settings) as bot:
            await bot.set_webhook(
                url=url,
                secret_token=secret.get_secret_value(),
                allowed_updates=ALLOWED_UPDATES,
                drop_pending_updates=drop_pending,
            )

    _telegram_call(run)
    typer.echo(f"webhook set: {url}")


@telegram_app.command("delete-webhook")
def telegram_delete_webhook() -> None:
    """Remove the webhook (needed before polling with `careloop bot`)."""
    from bot.telegram.channel import make_bot

    settings = telegram_settings()

    async def run() -> None:
        async with make_bot(settings) as bot:
            await bot.delete_webhook()

    _telegram_call(run)
    typer.echo("webhook removed")


@telegram_app.command("link")
def telegram_link(
    customer_id: Annotated[int, typer.Argument(help="CRM customer id.")],
    username: Annotated[
        str | None, typer.Option(help="The bot's @username (asked from Telegram when omitted).")
    ] = None,
) -> None:
    """Print a t.me deep link that attaches a Telegram chat to this customer's record."""
    from bot.telegram.channel import make_bot
    from crm.customers.links import link_token
    from crm.customers.service import get_customer
    from crm.db import create_db_engine, create_session_factory, session_scope

    settings = load_settings()
    engine = create_db_engine(settings.effective_database_url)
    try:
        with session_scope(create_session_factory(engine)) as session:
            get_customer(session, customer_id)
    except AppError as exc:
        raise fail(exc.message) from None
    finally:
        engine.dispose()
    if username is None:
        settings = telegram_settings()
        found: list[str] = []

        async def run() -> None:
            async with make_bot(settings) as bot:
                found.append(bot.username)

        _telegram_call(run)
        username = found[0]
    token = link_token(customer_id, settings.secret_key.get_secret_value())
    typer.echo(f"https://t.me/{username.lstrip('@')}?start={token}")


def _telegram_call(run: Callable[[], Coroutine[Any, Any, None]]) -> None:
    from telegram.error import TelegramError

    try:
        asyncio.run(run())
    except TelegramError as exc:
        raise fail(f"Telegram said: {exc}") from None
