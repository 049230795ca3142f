"""How the bot holds up on customer text nobody here wrote: escalation, intents, routine
sentiment, entities, and order dialogues with proof of ownership, through the real chat API.

Data: bench/data/conversation/ (written by an independent writer, see its README): the
messages (``messages_dev.csv`` for tuning, ``messages_test.csv`` frozen) and the scripted
dialogues over a small shop (``dialogues_dev.yml`` / ``dialogues_test.yml``, ``shop.yml``).
Every message is the first message of a fresh visitor; a dialogue is one visitor's turns.

Replies in the customer's language: of the messages written in a language the response
book has (nlp/language_id.py reads both), how many were answered in it, and how many other
messages were answered in a language other than English.

Baselines in the same run, on the same messages: escalation by the models alone (intent and
sentiment, without the tone cues of nlp/tone.py), and the intent head's own top label.
Message texts (the misses, the lowest routine scores) are printed only with
``--show-misses``: run the frozen test split without it.

    .venv/bin/python -m bench.conversation_quality [--split dev|test] [--data DIR]
    .venv/bin/python -m bench.conversation_quality --dialogues FILE   (only those dialogues)
    .venv/bin/python -m bench.conversation_quality --messages FILE    (only those messages)
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import re
import tempfile
import unicodedata
from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from babel.dates import format_date
from babel.numbers import format_currency
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from bot.engine import Engine
from bot.factory import build_engine
from bot.policy.escalation import Action, decide
from bot.replying import ENGLISH_LOCALE
from careloop.config import Settings
from crm.db import create_db_engine, create_session_factory
from crm.models import Customer, Order, OrderStatus
from migrations.runner import upgrade
from nlp.base import FALLBACK_INTENT, OOS_LABEL, Understanding
from nlp.language_id import language_of
from nlp.tone import Tone
from web.app import create_app

DATA = Path(__file__).resolve().parent / "data" / "conversation"
URL = "/api/v1/chat/messages"


def read_messages(path: Path) -> list[dict[str, Any]]:
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        row["escalate"] = row["escalate"].strip() == "1"
        row["routine"] = row["routine"].strip() == "1"
        row["entities"] = json.loads(row["entities"] or "[]")
    return rows


def load_shop(session: Session, path: Path) -> None:
    shop = yaml.safe_load(path.read_text(encoding="utf-8"))
    by_ref: dict[str, Customer] = {}
    for c in shop["customers"]:
        customer = Customer(
            external_id=c["external_id"],
            email=c.get("email"),
            first_name=c.get("first_name"),
            last_name=c.get("last_name"),
            phone=c.get("phone"),
        )
        session.add(customer)
        by_ref[c["external_id"]] = customer
    session.flush()
    for o in shop["orders"]:
        session.add(
            Order(
                external_id=str(o["external_id"]),
                customer_id=by_ref[o["customer"]].id,
                ordered_at=dt.datetime.fromisoformat(str(o["ordered_at"])).replace(tzinfo=dt.UTC),
                status=OrderStatus(o["status"]),
                total_amount=Decimal(str(o["total_amount"])),
                currency=o.get("currency", "EUR"),
                carrier=o.get("carrier"),
                tracking_number=o.get("tracking_number"),
                estimated_delivery=dt.date.fromisoformat(str(o["estimated_delivery"]))
                if o.get("estimated_delivery")
                else None,
                email=o.get("email"),
                shipping_postcode=str(o["shipping_postcode"])
                if o.get("shipping_postcode")
                else None,
                shipping_address=o.get("shipping_address"),
            )
        )
    session.commit()


def revealed(
    shop: dict[str, Any],
    reply: str,
    statuses: dict[str, set[str]] | None = None,
    locales: Sequence[str] = (ENGLISH_LOCALE,),
) -> set[str]:
    """The orders whose details one reply shows: its tracking number, or its number together
    with its date, total (as written in ISO form or in any of ``locales``), status word (in
    English or, ``statuses``, in any language the bot answers in) or address (an address
    alone may be shared)."""
    shown = set()
    for o in shop["orders"]:
        ref = str(o["external_id"])
        if o.get("tracking_number") and str(o["tracking_number"]) in reply:
            shown.add(ref)
            continue
        if ref not in reply:
            continue
        day = dt.datetime.fromisoformat(str(o["ordered_at"])).date()
        total, currency = Decimal(str(o["total_amount"])), o.get("currency", "EUR")
        marks = [str(day), f"{total:.2f} {currency}"]
        for locale in locales:
            marks += [
                format_date(day, "medium", locale=locale),
                format_currency(total, currency, locale=locale),
            ]
        if o.get("shipping_address"):
            marks.append(str(o["shipping_address"]))
        words = {o["status"], *(statuses or {}).get(o["status"], ())}
        if any(mark in reply for mark in marks) or any(
            re.search(rf"\b{re.escape(word)}\b", reply) for word in words
        ):
            shown.add(ref)
    return shown


def models_only(understanding: Understanding, bot: Engine) -> bool:
    """The policy without the tone cues: what the intent and sentiment models alone say."""
    plain = replace(understanding, tone=Tone())
    d = decide(plain, previous_intents=[], previous_scores=[], config=bot.policy)
    return d.action is Action.escalate


KINDS = ("order", "email")


def nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def run_messages(client: TestClient, bot: Engine, rows: list[dict[str, Any]]) -> dict[str, Any]:
    tp = fp = fn = tp_base = fp_base = fn_base = 0
    intent_ok = intent_lenient = 0
    routine_scores: list[tuple[float, str]] = []
    sentiments: list[tuple[str, str]] = []  # (labelled, read)
    entity_hits = entity_expected = entity_found = 0
    misses: list[dict[str, Any]] = []
    answered_in = set(bot.responses.translations)
    in_their_language = [0, 0]  # replies in the language of a message written in one of those
    english_answered_otherwise = 0  # an English (or unclear) message answered in another
    for i, row in enumerate(rows):
        res = client.post(URL, json={"session_id": f"q-{i}", "text": row["text"]})
        body = res.json()
        if res.status_code != 200:
            misses.append({"id": row["id"], "error": res.status_code})
            continue
        escalated = body["conversation"]["status"] in ("waiting", "assigned")
        written_in = language_of(row["text"])
        replied_in = language_of(" ".join(r["text"] for r in body["replies"]))
        if written_in in answered_in:
            in_their_language[0] += replied_in == written_in
            in_their_language[1] += 1
        elif replied_in not in (None, "en") and body["replies"]:
            english_answered_otherwise += 1
        understanding = bot.nlu.understand(row["text"])
        base = models_only(understanding, bot)
        truth = row["escalate"]
        tp, fp, fn = (
            tp + (escalated and truth),
            fp + (escalated and not truth),
            fn + (not escalated and truth),
        )
        tp_base += base and truth
        fp_base += base and not truth
        fn_base += (not base) and truth
        label = (body.get("intent") or {}).get("label")
        if label == FALLBACK_INTENT:  # "not one of the shop's intents": out of scope
            label = OOS_LABEL
        intent_ok += label == row["intent"]
        intent_lenient += label in (row["intent"], row["intent_alt"])
        if row["routine"]:
            routine_scores.append((body["sentiment"]["score"], row["text"]))
        sentiments.append((row["sentiment"], body["sentiment"]["label"]))
        # (compared after NFKC, as the labelling rules say: fullwidth digits are digits)
        want = {(e["type"], nfkc(e["text"])) for e in row["entities"] if e["type"] in KINDS}
        got = {(e["type"], nfkc(e["text"])) for e in body["entities"] if e["type"] in KINDS}
        entity_expected += len(want)
        entity_found += len(got)
        entity_hits += len(want & got)
        if escalated != truth or label not in (row["intent"], row["intent_alt"]):
            misses.append(
                {
                    "id": row["id"],
                    "text": row["text"][:120],
                    "escalate": truth,
                    "escalated": escalated,
                    "reason": body["conversation"]["escalation_reason"],
                    "intent": row["intent"],
                    "predicted": label,
                    "sentiment": body["sentiment"]["score"],
                }
            )
    n = len(rows)
    low = sorted(routine_scores)[:5]
    from sklearn.metrics import f1_score

    from nlp.dataset import bundled_examples

    trained = {e.text.strip().casefold() for e in bundled_examples("intent")}
    labelled, read = [a for a, _ in sentiments], [b for _, b in sentiments]
    three_classes: dict[str, Any] = {
        "labels": ["negative", "neutral", "positive"],
        "average": "macro",
        "zero_division": 0,
    }
    return {
        "messages": n,
        "also_in_intent_training_data": sum(r["text"].strip().casefold() in trained for r in rows),
        "escalation": _prf(tp, fp, fn),
        "escalation_models_only": _prf(tp_base, fp_base, fn_base),
        "intent_accuracy": round(intent_ok / n, 4),
        "intent_accuracy_with_alternative": round(intent_lenient / n, 4),
        "sentiment_macro_f1": round(float(f1_score(labelled, read, **three_classes)), 4),
        "routine_questions": len(routine_scores),
        "routine_below_minus_0_5": sum(1 for s, _ in routine_scores if s < -0.5),
        "routine_lowest": [{"score": round(s, 3), "text": t[:80]} for s, t in low],
        "replies_in_the_customers_language": f"{in_their_language[0]}/{in_their_language[1]}",
        "other_messages_not_answered_in_english": english_answered_otherwise,
        "entities_order_email": {
            "precision": round(entity_hits / entity_found, 4) if entity_found else None,
            "recall": round(entity_hits / entity_expected, 4) if entity_expected else None,
        },
        "misses": misses,
    }


def run_dialogues(
    client: TestClient, dialogues: list[dict[str, Any]], shop: dict[str, Any], bot: Engine
) -> dict[str, Any]:
    statuses: dict[str, set[str]] = {}
    for translation in bot.responses.translations.values():
        for status, word in translation.words.items():
            statuses.setdefault(status, set()).add(word)
    locales = (ENGLISH_LOCALE, *bot.responses.translations)
    found = leaks = expected_reveals = 0
    failures: list[dict[str, Any]] = []
    for i, d in enumerate(dialogues):
        replies: list[str] = []
        for turn in d["turns"]:
            body = client.post(URL, json={"session_id": f"dlg-{i}", "text": str(turn)}).json()
            replies += [r["text"] for r in body.get("replies", [])]
        shown = set().union(*(revealed(shop, reply, statuses, locales) for reply in replies))
        want = d["expect"].get("reveals")
        want = str(want) if want is not None else None
        leaked = shown - ({want} if want else set())
        leaks += bool(leaked)
        if want is not None:
            expected_reveals += 1
            found += want in shown
        if leaked or (want is not None and want not in shown):
            failures.append(
                {"id": d["id"], "expected": want, "shown": sorted(shown), "last": replies[-1:]}
            )
    return {
        "dialogues": len(dialogues),
        "right_order_found": round(found / expected_reveals, 4) if expected_reveals else None,
        "found": f"{found}/{expected_reveals}",
        "leaks": leaks,
        "failures": failures,
    }


def _prf(tp: int, fp: int, fn: int) -> dict[str, float | int]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "tp": tp,
        "fp": fp,
        "fn": fn,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--split", choices=("dev", "test"), default="dev")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--show-misses", action="store_true")
    parser.add_argument(
        "--dialogues",
        type=Path,
        help="run only the order dialogues of this file (e.g. dialogues_dev2.yml), no messages",
    )
    parser.add_argument(
        "--messages",
        type=Path,
        help="run only the messages of this file (e.g. messages_dev2.csv), no dialogues",
    )
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="careloop-quality-"))
    url = f"sqlite:///{tmp / 'quality.db'}"
    upgrade(url)
    settings = Settings(env="test", data_dir=tmp, database_url=url, model_dir=tmp / "models")
    bot = build_engine(settings)
    engine = create_db_engine(url)
    factory = create_session_factory(engine)
    shop = yaml.safe_load((args.data / "shop.yml").read_text(encoding="utf-8"))
    with factory() as session:
        load_shop(session, args.data / "shop.yml")
    app = create_app(
        settings, bot=bot, db_engine=engine, session_factory=factory, run_scheduler=False
    )
    message_file = args.messages or args.data / f"messages_{args.split}.csv"
    dialogue_file = args.dialogues or args.data / f"dialogues_{args.split}.yml"
    rows = [] if args.dialogues else read_messages(message_file)
    dialogues = (
        []
        if args.messages
        else yaml.safe_load(dialogue_file.read_text(encoding="utf-8"))["dialogues"]
    )
    with TestClient(app) as client:
        messages = run_messages(client, bot, rows) if rows else None
        talks = run_dialogues(client, dialogues, shop, bot) if dialogues else None
    if not args.show_misses:
        if messages is not None:  # (no message text, so the test split's stay unread)
            messages.pop("misses")
            messages.pop("routine_lowest")
        if talks is not None:
            talks.pop("failures")
    split = (
        (args.messages or args.dialogues).name if args.messages or args.dialogues else args.split
    )
    print(
        json.dumps(
            {"split": split, "messages": messages, "dialogues": talks},
            indent=2,
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
