"""What the app holds for its lifetime: database, the bot engine, the scheduler."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.engine import Engine as BotEngine
from careloop.config import Settings


@dataclass
class AppState:
    settings: Settings
    db_engine: Engine
    session_factory: sessionmaker[Session]
    bot: BotEngine
