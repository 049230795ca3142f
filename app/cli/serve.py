"""`careloop serve` (web, bot, scheduler) and `careloop bot` (Telegram alone)."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
from typing import TYPE_CHECKING, Annotated

import typer

from app.cli.common import (
    chat_lines,
    fail,
    load_settings,
    open_session,
    require_migrated,
    telegram_settings,
)
from careloop.config import Settings

if TYPE_CHECKING:
    from crm.demo import DemoChat


def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default from settings).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from settings).")] = None,
    scheduler: Annotated[bool, typer.Option(help="Run the scheduler in this process.")] = True,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=64,
            help="Worker processes (PostgreSQL only; default CARELOOP_WORKERS or 1).",
        ),
    ] = None,
) -> None:
    """Run the web server with the bot, the inbox pages and the scheduler; the URLs (and
    the demo logins and chats, where the demo data is) are printed once it answers.

    With --workers N, N processes share the port; each has its own NLU, database pool and
    event listener, one of them (the PostgreSQL advisory lock decides) runs the scheduler
    and sends Telegram messages. See docs/operations-workers.md."""
    from concurrent.futures import ThreadPoolExecutor

    import uvicorn

    from app.compose import web_app
    from web.server import ReadyServer

    settings = load_settings()
    settings = settings.model_copy(
        update={
            "host": host or settings.host,
            "port": port or settings.port,
            "workers": workers or settings.workers,
            "scheduler_enabled": scheduler and settings.scheduler_enabled,
        }
    )
    if settings.workers > 1:
        _check_workers(settings)
    require_migrated(settings)
    if settings.workers > 1:
        # Each worker is a fresh process that builds its app from the environment
        # (uvicorn's app factory): what the options changed goes there first.
        os.environ.update(
            {
                "CARELOOP_HOST": settings.host,
                "CARELOOP_PORT": str(settings.port),
                "CARELOOP_WORKERS": str(settings.workers),
                "CARELOOP_SCHEDULER_ENABLED": "true" if settings.scheduler_enabled else "false",
            }
        )
        typer.echo(_banner(settings, settings.port, _demo_for_banner(settings)))
        typer.echo(f"starting {settings.workers} worker processes (each loads the models)")
        uvicorn.run(
            "app.compose:app_from_environment",
            factory=True,
            workers=settings.workers,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level.lower(),
        )
        return
    typer.echo("careloop is starting (loading the models); the URLs follow when it answers")
    config = uvicorn.Config(
        web_app(settings, run_scheduler=scheduler),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
    )
    with ThreadPoolExecutor(max_workers=1) as pool:  # (password checks while models load)
        demo = pool.submit(_demo_for_banner, settings)
        ReadyServer(config, lambda port: typer.echo(_banner(settings, port, demo.result()))).run()


def _demo_for_banner(settings: Settings) -> tuple[list[tuple[str, str, str]], list[DemoChat]]:
    """The demo logins that still work and the demo chats, if the demo data is here."""
    from crm.demo import demo_chats, demo_logins

    if settings.env.value == "production":
        return [], []
    try:
        with open_session(settings) as session:
            return demo_logins(session), demo_chats(session)
    except Exception:  # the banner goes without them; the server is what matters
        logging.getLogger(__name__).exception("cli.banner.demo_unreadable")
        return [], []


def _banner(
    settings: Settings, port: int, demo: tuple[list[tuple[str, str, str]], list[DemoChat]]
) -> str:
    """What `careloop serve` prints when it is ready: where to go, and the demo's way in."""
    try:
        everywhere = ipaddress.ip_address(settings.host).is_unspecified
    except ValueError:  # a host name
        everywhere = False
    base = f"http://{'127.0.0.1' if everywhere else settings.host}:{port}"
    lines = [
        f"careloop is ready on {base}"
        + (" (listening on all interfaces)" if everywhere else "")
        + "; Ctrl-C stops it",
        f"  home            {base}/",
        f"  customer chat   {base}/chat",
        f"  staff sign-in   {base}/login",
        f"  agents' inbox   {base}/inbox",
        f"  API docs        {base}/docs",
    ]
    logins, chats = demo
    if logins:
        lines.append("demo logins (role, email, password):")
        lines += [f"  {role:<9} {email:<26} {password}" for role, email, password in logins]
    if chats:
        lines.append("demo web chats:")
        lines += chat_lines(base, chats)
    return "\n".join(lines)


def _check_workers(settings: Settings) -> None:
    """Several processes need PostgreSQL, and Telegram updates by webhook."""
    from sqlalchemy.engine import make_url

    if make_url(settings.effective_database_url).get_backend_name() != "postgresql":
        raise fail(
            f"--workers {settings.workers} needs PostgreSQL: SQLite takes one writer at a "
            "time, so careloop serves it from one process (writers queue there). Run without "
            "--workers, or set CARELOOP_DATABASE_URL=postgresql+psycopg://..."
        )
    if settings.telegram_enabled and settings.telegram_mode.value == "polling":
        raise fail(
            f"--workers {settings.workers} with Telegram needs CARELOOP_TELEGRAM_MODE=webhook: "
            "only one process may poll Telegram for updates"
        )


def bot_cmd() -> None:
    """Run only the Telegram bot (long polling) and its sender, without the web server."""
    settings = telegram_settings()
    if settings.telegram_mode.value == "webhook":
        raise fail("CARELOOP_TELEGRAM_MODE is webhook: updates arrive through `careloop serve`")
    require_migrated(settings)
    from app.compose import run_bot

    asyncio.run(
        run_bot(settings, lambda: typer.echo("careloop bot: polling Telegram; Ctrl-C stops it"))
    )
