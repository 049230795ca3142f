"""One visitor alone, two versions of careloop side by side: a same-run before/after.

Starts two ``careloop serve`` processes, each on a scratch database of its own: one from
this checkout and one from another source tree (``--baseline``, e.g. an exported earlier
commit: ``git archive COMMIT | tar -x -C /tmp/base``). A single visitor then sends the
same messages to both, in turns (message by message, 10-message conversations, as
``bench.chat_throughput``'s one-visitor row), and between two messages this process
encodes the same text once with the bundled encoder (the raw single-message encode).
Load on a shared machine hits all three alike, so the ratios compare even when the
absolute times do not. Reported: p50/p99 per version, the encode p50, and the ratio of
each version's chat p50 to the encode p50.

    .venv/bin/python -m bench.chat_ab --baseline /tmp/base [--messages 400]
        [--database sqlite|postgresql] [--admin-url URL]
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench.chat_throughput import QUESTIONS, drop_database, scratch_database, start_server
from nlp.encoder import SentenceEncoder

HERE = Path(__file__).resolve().parent.parent


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(statistics.median(values), 2),
        "p99": round(percentile(values, 0.99), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--baseline", type=Path, required=True, help="the other source tree")
    parser.add_argument("--messages", type=int, default=400, help="per version")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--pause",
        type=float,
        default=0.05,
        help="seconds between two timed steps (a busy process's threads go idle first)",
    )
    parser.add_argument(
        "--admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    args = parser.parse_args()

    encoder = SentenceEncoder()
    encoder.encode(QUESTIONS)
    trees = {"baseline": args.baseline.resolve(), "this": HERE}
    servers: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
    handles: list[Any] = []
    try:
        for name, tree in trees.items():
            tmp = Path(tempfile.mkdtemp(prefix=f"careloop-ab-{name}-"))
            url, handle = scratch_database(args.database, args.admin_url, tmp)
            handles.append(handle)
            servers[name] = start_server(url, tmp, 1, pythonpath=tree)
        clients = {
            name: httpx.Client(base_url=base, timeout=60) for name, (_, base) in servers.items()
        }
        times: dict[str, list[float]] = {name: [] for name in servers}
        raw: list[float] = []
        for i in range(-20, args.messages):  # (the first 20 warm up)
            if i % 10 == 0:  # (a new visitor every 10 messages)
                session = uuid.uuid4().hex
            text = QUESTIONS[i % len(QUESTIONS)]
            order = list(servers) if i % 2 == 0 else list(reversed(servers))
            for name in order:
                time.sleep(args.pause)
                started = time.perf_counter()
                res = clients[name].post(
                    "/api/v1/chat/messages", json={"session_id": session, "text": text}
                )
                elapsed = 1000 * (time.perf_counter() - started)
                res.raise_for_status()
                if i >= 0:
                    times[name].append(elapsed)
            time.sleep(args.pause)
            started = time.perf_counter()
            encoder.encode([text])
            if i >= 0:
                raw.append(1000 * (time.perf_counter() - started))
        for client in clients.values():
            client.close()
    finally:
        for proc, _ in servers.values():
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        for handle in handles:
            drop_database(handle)
    encode = statistics.median(raw)
    report = {
        "database": args.database,
        "messages_per_version": args.messages,
        "encode_one_ms": summary(raw),
        **{
            name: {
                "chat_ms": summary(values),
                "ratio_chat_p50_to_encode_p50": round(statistics.median(values) / encode, 2),
            }
            for name, values in times.items()
        },
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
