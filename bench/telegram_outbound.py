"""Outbound Telegram throughput under the flood limit, against the fake Bot API server.

A burst of N messages to N distinct chats is written to the outbox and delivered by the
real ``TelegramSender`` (python-telegram-bot over HTTP) to the fake server, which enforces
30 messages per sliding second and answers 429 beyond it. Reports the achieved rate as a
ratio to the limit (goal ≥ 0.95) and the 429s received (goal 0). The baseline, in the same
process: the same bot sending a burst with no pacing, which is what Telegram punishes.

    .venv/bin/python -m bench.telegram_outbound [--messages 2000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import insert

from bot.telegram.channel import make_bot
from bot.telegram.limiter import RateLimiter
from bot.telegram.sender import TelegramSender
from careloop.config import Settings
from crm.db import create_db_engine, create_session_factory, session_scope, utcnow
from crm.models import (
    Channel,
    ChannelIdentity,
    Conversation,
    ConversationStatus,
    Customer,
    DeliveryStatus,
    Direction,
    Message,
    Sender,
)
from devtools.fake_telegram import TOKEN, FakeTelegramServer
from migrations.runner import upgrade

LIMIT = 30


def seed_outbox(url: str, count: int, first_chat: int) -> None:
    """One customer, Telegram identity, conversation and pending message per chat."""
    engine = create_db_engine(url)
    factory = create_session_factory(engine)
    now = utcnow()
    with session_scope(factory) as session:
        for start in range(0, count, 500):
            chats = range(first_chat + start, first_chat + min(count, start + 500))
            customers = [Customer(first_name=f"Bench{c}") for c in chats]
            session.add_all(customers)
            session.flush()
            identities = [
                ChannelIdentity(customer_id=cu.id, channel=Channel.telegram, external_id=str(c))
                for cu, c in zip(customers, chats, strict=True)
            ]
            session.add_all(identities)
            session.flush()
            conversations = [
                Conversation(
                    customer_id=i.customer_id,
                    channel=Channel.telegram,
                    channel_identity_id=i.id,
                    status=ConversationStatus.bot,
                )
                for i in identities
            ]
            session.add_all(conversations)
            session.flush()
            session.execute(
                insert(Message),
                [
                    {
                        "conversation_id": cv.id,
                        "customer_id": cv.customer_id,
                        "channel": Channel.telegram,
                        "direction": Direction.outbound,
                        "sender": Sender.system,
                        "text": f"Your parcel is on its way (#{n})",
                        "payload": {},
                        "delivery_status": DeliveryStatus.pending,
                        "created_at": now,
                    }
                    for n, cv in enumerate(conversations, start)
                ],
            )
    engine.dispose()


async def unpaced_burst(settings: Settings, count: int) -> tuple[float, int]:
    """Baseline: send ``count`` messages to distinct chats as fast as the bot can."""
    from telegram.error import RetryAfter

    refused = 0
    started = time.perf_counter()
    async with make_bot(settings) as bot:

        async def one(chat: int) -> None:
            nonlocal refused
            try:
                await bot.send_message(chat_id=chat, text="unpaced")
            except RetryAfter:
                refused += 1

        await asyncio.gather(*(one(9_000_000 + i) for i in range(count)))
    return time.perf_counter() - started, refused


async def paced(settings: Settings, url: str, count: int) -> dict[str, float]:
    engine = create_db_engine(url)
    factory = create_session_factory(engine)
    async with make_bot(settings) as bot:
        sender = TelegramSender(bot, factory, limiter=RateLimiter(LIMIT, 1.0))
        started = time.perf_counter()
        await sender.drain(timeout=count / LIMIT * 3 + 60)
        elapsed = time.perf_counter() - started
    engine.dispose()
    return {"elapsed_s": elapsed, **{k: float(v) for k, v in sender.stats.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--baseline-messages", type=int, default=200)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="careloop-bench-"))
    url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    upgrade(url)
    seed_outbox(url, args.messages, first_chat=1_000_000)

    with FakeTelegramServer() as fake:
        settings = Settings(
            env="test",
            data_dir=tmp,
            database_url=url,
            telegram_token=SecretStr(TOKEN),
            telegram_api_url=fake.api_url,
        )
        base_elapsed, base_refused = asyncio.run(unpaced_burst(settings, args.baseline_messages))
        fake.too_many = 0
        baseline_accepted = len(fake.sent)
        time.sleep(1.1)  # let the server's window empty before the measured run

        result = asyncio.run(paced(settings, url, args.messages))
        sent = fake.sent[baseline_accepted:]
        span = sent[-1].at - sent[0].at if len(sent) > 1 else float("nan")
        rate = (len(sent) - 1) / span if len(sent) > 1 else 0.0
        peak = max(
            (
                sum(1 for s in sent[i : i + LIMIT + 1] if s.at - sent[i].at < 1.0)
                for i in range(len(sent))
            ),
            default=0,
        )
        report = {
            "messages": args.messages,
            "delivered": len(sent),
            "seconds": round(result["elapsed_s"], 2),
            "rate_per_s": round(rate, 2),
            "limit_per_s": LIMIT,
            "ratio_to_limit": round(rate / LIMIT, 3),
            "http_429": fake.too_many,
            "peak_in_any_second": peak,
            "baseline_unpaced": {
                "messages": args.baseline_messages,
                "seconds": round(base_elapsed, 2),
                "http_429": base_refused,
                "accepted": baseline_accepted,
            },
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
