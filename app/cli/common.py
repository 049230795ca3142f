"""Helpers every command shares: settings, a database session, errors, the schema check."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer

from careloop.config import Settings, describe_settings_error, get_settings
from careloop.errors import AppError
from careloop.logs import configure_logging

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from crm.demo import DemoChat


def load_settings() -> Settings:
    from pydantic import ValidationError

    try:
        settings = get_settings()
    except ValidationError as exc:
        raise fail(describe_settings_error(exc)) from None
    configure_logging(settings.log_level)
    return settings


@contextmanager
def open_session(settings: Settings) -> Iterator[Session]:
    """One unit of work on the configured database; app errors end the command cleanly."""
    from crm.db import create_db_engine, create_session_factory, session_scope

    engine = create_db_engine(settings.effective_database_url)
    try:
        with session_scope(create_session_factory(engine)) as session:
            yield session
    except AppError as exc:
        raise fail(exc.message) from None
    finally:
        engine.dispose()


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def require_migrated(settings: Settings) -> None:
    from crm.db import create_db_engine
    from migrations.runner import current_revision, head_revision

    engine = create_db_engine(settings.effective_database_url)
    try:
        current = current_revision(engine)
    finally:
        engine.dispose()
    if current != head_revision():
        raise fail(
            f"database schema is at {current or 'nothing'}, code expects {head_revision()}: "
            "run `careloop db upgrade` first"
        )


def telegram_settings() -> Settings:
    settings = load_settings()
    if not settings.telegram_enabled:
        raise fail("no Telegram token: set CARELOOP_TELEGRAM_TOKEN (from @BotFather)")
    return settings


def safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def cli_actor() -> Any:
    from crm.audit import Actor

    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    return Actor(f"cli ({who})")


def chat_lines(base: str, chats: list[DemoChat]) -> list[str]:
    width = max(len(chat.session_id) for chat in chats)
    return [f"  {base}/chat?session={chat.session_id:<{width}}  {chat.label}" for chat in chats]
