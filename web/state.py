"""What the app holds for its lifetime: database, the bot engine, Telegram."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.engine import Engine as BotEngine
from bot.telegram.channel import TelegramChannel
from careloop.config import Settings
from crm.events import EventHub
from crm.users.passwords import DEFAULT_GATE, HashGate


@dataclass
class AppState:
    settings: Settings
    db_engine: Engine
    session_factory: sessionmaker[Session]
    bot: BotEngine
    events: EventHub  # wakes the inbox and chat streams
    telegram: TelegramChannel | None = field(default=None)
    hash_gate: HashGate = field(default=DEFAULT_GATE)  # bounds concurrent password hashes
