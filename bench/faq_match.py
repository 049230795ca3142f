"""How the response book's frequent questions meet messages nobody wrote for them.

For each message of the conversation dev splits (or the files given), the cosine similarity
of its embedding to the nearest ``faq:`` question of the response book, as the bot computes
it (bot/faq.py). Prints how many messages reach each line, and the nearest ones with their
labelled intent and escalation, so the line (``CARELOOP_FAQ_MIN_SIMILARITY``) can be chosen
where only real paraphrases pass. Never run it on the test split.

    .venv/bin/python -m bench.faq_match [--messages FILE ...] [--book FILE] [--show 20]
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

from bot.faq import FaqMatcher
from bot.responses import ResponseBook
from nlp.encoder import SentenceEncoder

DEV = [
    Path("bench/data/conversation/messages_dev.csv"),
    Path("bench/data/conversation/messages_dev2.csv"),
]
LINES = (0.6, 0.65, 0.7, 0.75, 0.8, 0.85)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=Path, nargs="+", default=DEV)
    parser.add_argument("--book", type=Path, default=None, help="default: bot/responses.yml")
    parser.add_argument("--show", type=int, default=20, help="nearest messages to print")
    args = parser.parse_args()
    if any("test" in path.name for path in args.messages):
        raise SystemExit("the test split is for the final report only")
    book = ResponseBook.load(args.book)
    rows = [row for path in args.messages for row in csv.DictReader(path.open(encoding="utf-8"))]
    encoder = SentenceEncoder()
    matcher = FaqMatcher(encoder.encode, min_similarity=-1.0)  # (every message's nearest)
    vectors = encoder.encode([row["text"] for row in rows])
    found = [matcher.match(book.faq, row["text"], v) for row, v in zip(rows, vectors, strict=True)]
    similarity = np.array([f.similarity if f else 0.0 for f in found])
    nearest = [
        {
            "similarity": round(float(similarity[i]), 3),
            "faq": found[i].key if found[i] else None,  # type: ignore[union-attr]
            "question": found[i].question if found[i] else None,  # type: ignore[union-attr]
            "intent": rows[i].get("intent"),
            "escalate": rows[i].get("escalate"),
            "text": rows[i]["text"],
        }
        for i in np.argsort(-similarity)[: args.show]
    ]
    report = {
        "messages": len(rows),
        "faq_entries": len(book.faq),
        "faq_questions": sum(len(e.questions) for e in book.faq),
        "reaching": {str(line): int((similarity >= line).sum()) for line in LINES},
        "nearest": nearest,
    }
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
