"""Which language customers write in: careloop's reading (nlp/language_id.py) against
py3langid used the plain way (all its 97 languages, its own top guess), in one run.

- English questions nobody here wrote (BANKING77, train and test, from ../shared/data):
  how many are read as another language (each one would be answered in it);
- the conversation dev splits and the written chat messages: how many messages name a
  language other than English, by language, at several confidence lines;
- milliseconds per message.

    .venv/bin/python -m bench.language_id [--banking77 DIR]
"""

from __future__ import annotations

import argparse
import csv
import time
from collections import Counter
from pathlib import Path

from nlp.language_id import _NOT_WORDS, MIN_CONFIDENCE, MIN_LETTERS, _identifier, language_of

ROOT = Path(__file__).resolve().parent.parent
DEV = sorted((ROOT / "bench" / "data" / "conversation").glob("messages_dev*.csv"))
CHAT = ROOT / "nlp" / "data" / "chat_messages.csv"


def texts(paths: list[Path]) -> list[str]:
    out: list[str] = []
    for path in paths:
        with path.open(encoding="utf-8", newline="") as f:
            out += [row["text"] for row in csv.DictReader(f)]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--banking77", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    english = texts(sorted(args.banking77.glob("banking77_*.csv")))
    customers = texts([*DEV, CHAT])
    import py3langid

    restricted = _identifier()
    print(f"English questions (BANKING77): {len(english)}; dev and chat messages: {len(customers)}")
    print(f"careloop's line: {MIN_LETTERS} letters, confidence {MIN_CONFIDENCE}")
    start = time.perf_counter()
    plain = [py3langid.classify(t)[0] for t in english]
    plain_ms = (time.perf_counter() - start) / len(english) * 1000
    start = time.perf_counter()
    ours = [language_of(t) for t in english]
    ours_ms = (time.perf_counter() - start) / len(english) * 1000
    print(
        f"BANKING77 read as another language: plain py3langid {sum(c != 'en' for c in plain)}, "
        f"careloop {sum(c not in (None, 'en') for c in ours)} "
        f"({plain_ms:.3f} and {ours_ms:.3f} ms per message, ratio {ours_ms / plain_ms:.2f})"
    )
    plain_dev = Counter(py3langid.classify(t)[0] for t in customers)
    print(
        f"dev and chat, plain py3langid: {sum(n for c, n in plain_dev.items() if c != 'en')} "
        f"not English, {len(plain_dev)} languages: {dict(plain_dev.most_common(25))}"
    )
    readings = []
    for text in customers:
        words = _NOT_WORDS.sub(" ", text)
        enough = sum(c.isalpha() for c in words) >= MIN_LETTERS
        readings.append(restricted.classify(words) if enough else None)
    for line in (0.7, 0.8, 0.9, 0.95):
        named = Counter(r[0] for r in readings if r is not None and r[1] >= line)
        other = sum(n for c, n in named.items() if c != "en")
        print(f"dev and chat, careloop at {line}: {other} not English, {dict(named.most_common())}")


if __name__ == "__main__":
    main()
