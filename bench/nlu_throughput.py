"""NLU latency and throughput (intent + sentiment) against the raw encoder, same process.

- latency: one message at a time through ``NLU.understand`` (p50 / p99);
- throughput: many threads calling ``NLU.understand`` at once (the micro-batcher turns them
  into batches), messages per second;
- baseline: the raw encoder's own batched encode rate (``encode`` on batches of 64), the
  physical limit on this machine, and its single-message latency.

    .venv/bin/python -m bench.nlu_throughput [--messages 2000] [--threads 64]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.chat_latency import percentile
from nlp.encoder import SentenceEncoder
from nlp.pipeline import NLUConfig, load_nlu

PHRASES = [
    "where is my order?",
    "I want to return the shoes I bought last week",
    "my card was charged twice for order 55120",
    "this is the worst service I have ever had",
    "can I talk to a real person please",
    "how many loyalty points do I have",
    "thanks, that was really helpful!",
    "do you ship to Austria",
    "the parcel arrived damaged and half the items are missing",
    "stop sending me offers",
]


def messages(n: int) -> list[str]:
    return [f"{PHRASES[i % len(PHRASES)]} ({i})" for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=64)
    parser.add_argument("--latency-messages", type=int, default=300)
    args = parser.parse_args()

    encoder = SentenceEncoder()
    nlu = load_nlu(encoder, NLUConfig(model_dir=Path(tempfile.mkdtemp()) / "models"))
    texts = messages(args.messages)
    for text in texts[:50]:  # warm-up
        nlu.understand(text)
        encoder.encode([text])

    raw_single = []
    for text in texts[: args.latency_messages]:
        started = time.perf_counter()
        encoder.encode([text])
        raw_single.append(1000 * (time.perf_counter() - started))
    started = time.perf_counter()
    for i in range(0, len(texts), 64):
        encoder.encode(texts[i : i + 64])
    raw_rate = len(texts) / (time.perf_counter() - started)

    single = []
    for text in texts[: args.latency_messages]:
        started = time.perf_counter()
        nlu.understand(text)
        single.append(1000 * (time.perf_counter() - started))

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.threads) as pool:
        list(pool.map(nlu.understand, texts))
    rate = len(texts) / (time.perf_counter() - started)
    batcher = nlu._batcher
    nlu.close()

    p50 = percentile(single, 0.5)
    print(
        json.dumps(
            {
                "latency_ms": {
                    "p50": round(p50, 2),
                    "p99": round(percentile(single, 0.99), 2),
                    "raw_encode_p50": round(percentile(raw_single, 0.5), 2),
                    "ratio_p50_to_raw": round(p50 / percentile(raw_single, 0.5), 2),
                },
                "throughput_per_s": {
                    "nlu_concurrent": round(rate, 1),
                    "raw_encode_batched": round(raw_rate, 1),
                    "ratio_to_raw": round(rate / raw_rate, 3),
                    "threads": args.threads,
                    "mean_batch": round(batcher.mean_batch, 1) if batcher else None,
                },
                "messages": len(texts),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
