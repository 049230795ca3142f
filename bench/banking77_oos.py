"""Out-of-scope detection on BANKING77 with a quarter of the intents held out as unknown.

Data: ``../shared/data/banking77_{train,test}.csv`` (77 intents, CC BY 4.0; used only here,
never copied into the project). For each seed, 19 intents picked at random
(``random.Random(seed)``) are dropped from the training file and relabelled ``oos`` in the
test file, so training holds no out-of-scope example; ``nlp.evaluation.evaluate`` (the code
behind ``careloop nlu evaluate --oos-label oos``) then trains on the rest and reports

- ``detector``: careloop's out-of-scope detector (``nlp/oos.py``, the bot's own), its
  threshold chosen from the training file alone (pseudo out-of-scope intents);
- ``baseline``: today's rule, max softmax probability after temperature calibration, with
  its threshold tuned on a 20 % hold-out of the training file, on the same splits.

Each reports in-scope accuracy (right label and not rejected) and out-of-scope recall at
its chosen threshold, AUROC, and the whole curve (in-scope accuracy and out-of-scope
recall over 101 thresholds). ``--protocol dev`` runs the tuning protocol instead, on the
training file only: another random quarter of the intents (seed 1000 + s) is unknown, and
the known intents' examples are split 80 / 20 into training and test.

    .venv/bin/python -m bench.banking77_oos [--data-dir DIR] [--seeds 5]
        [--protocol test|dev] [--mode fast|finetune]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nlp.base import Vectors
from nlp.dataset import Example, load_examples
from nlp.encoder import SentenceEncoder
from nlp.evaluation import evaluate
from nlp.oos import OutOfScopeDetector
from nlp.training import stratified_holdout

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
HELD_OUT = 19  # a quarter of the 77 intents
GOAL = 0.90
FIELDS = ("in_scope_accuracy", "oos_recall", "oos_auroc", "accuracy", "macro_f1")


class CachedEncoder:
    """The encoder with a cache, so every split and method reuses one pass over the data."""

    def __init__(self, encoder: SentenceEncoder) -> None:
        self.inner = encoder
        self.name = encoder.name
        self.dimension = encoder.dimension
        self.path = encoder.path
        self.cache: dict[str, np.ndarray] = {}

    def encode(self, texts: Sequence[str]) -> Vectors:
        missing = list(dict.fromkeys(t for t in texts if t not in self.cache))
        if missing:
            for text, vector in zip(missing, self.inner.encode(missing), strict=True):
                self.cache[text] = vector
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([self.cache[t] for t in texts]).astype(np.float32)


def split(
    train: list[Example], test: list[Example], seed: int, protocol: str
) -> tuple[list[Example], list[Example], list[str]]:
    intents = sorted({ex.label for ex in train})
    if protocol == "test":
        held = sorted(random.Random(seed).sample(intents, HELD_OUT))
        fit = [ex for ex in train if ex.label not in held]
        check = [Example(ex.text, "oos") if ex.label in held else ex for ex in test]
        return fit, check, held
    held = sorted(random.Random(1000 + seed).sample(intents, HELD_OUT))
    known = [ex for ex in train if ex.label not in held]
    parts = stratified_holdout([ex.label for ex in known], fraction=0.2, seed=seed)
    assert parts is not None
    fit = [known[i] for i in parts[0]]
    check = [known[i] for i in parts[1]] + [
        Example(ex.text, "oos") for ex in train if ex.label in held
    ]
    return fit, check, held


def best_points(curve: list[dict[str, float]]) -> dict[str, Any]:
    """Read off the curve: the best balanced point and the recall at given accuracies."""
    balanced = max(curve, key=lambda p: min(p["in_scope_accuracy"], p["oos_recall"]))
    out: dict[str, Any] = {"best_min_point": balanced}
    for target in (0.90, 0.85, 0.80):
        ok = [p["oos_recall"] for p in curve if p["in_scope_accuracy"] >= target]
        out[f"oos_recall_at_in_scope_{target:.2f}"] = max(ok) if ok else 0.0
    return out


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in (*FIELDS, "oos_recall_at_in_scope_0.90", "oos_recall_at_in_scope_0.85"):
        values = [r[key] for r in runs]
        out[key] = round(statistics.mean(values), 4)
        out[f"{key}_sd"] = round(statistics.pstdev(values), 4)
    out["goal_met_runs"] = sum(
        1 for r in runs if r["in_scope_accuracy"] >= GOAL and r["oos_recall"] >= GOAL
    )
    return out


def per_message_cost(encoder: SentenceEncoder, reference: Vectors, n_labels: int) -> dict[str, Any]:
    """The detector's own time per single message (scores against the full reference)
    next to the encoder's single-message time, both medians."""
    rng = np.random.default_rng(0)
    detector = OutOfScopeDetector(reference=reference.astype(np.float32), threshold=0.0)
    probs = rng.dirichlet(np.ones(n_labels), size=1)
    texts = ["where is my new card", "I was charged twice", "how do I top up"] * 10
    encode_ms, detect_ms = [], []
    for text in texts:
        started = time.perf_counter()
        vector = encoder.encode([text])
        encode_ms.append(1000 * (time.perf_counter() - started))
        started = time.perf_counter()
        detector.scores(vector, probs)
        detect_ms.append(1000 * (time.perf_counter() - started))
    return {
        "reference_size": len(reference),
        "encode_ms_p50": round(statistics.median(encode_ms), 3),
        "detector_ms_p50": round(statistics.median(detect_ms), 3),
        "detector_to_encode": round(statistics.median(detect_ms) / statistics.median(encode_ms), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--protocol", choices=("test", "dev"), default="test")
    parser.add_argument("--mode", choices=("fast", "finetune"), default="fast")
    args = parser.parse_args()

    train = load_examples(args.data_dir / "banking77_train.csv")
    test = load_examples(args.data_dir / "banking77_test.csv")
    raw = SentenceEncoder()
    encoder = CachedEncoder(raw)
    results: dict[str, Any] = {
        "protocol": args.protocol,
        "mode": args.mode,
        "held_out_intents": HELD_OUT,
        "goal": {"in_scope_accuracy": GOAL, "oos_recall": GOAL},
        "runs": [],
    }
    started = time.perf_counter()
    for seed in range(args.seeds):
        fit, check, held = split(train, test, seed, args.protocol)
        run: dict[str, Any] = {"seed": seed, "held_out": held, "n_train": len(fit)}
        for name, method in (("detector", "detector"), ("baseline", "msp")):
            report = evaluate(
                encoder, fit, check, oos_label="oos", mode=args.mode, oos_method=method, curve=True
            )
            curve = report.pop("curve")
            entry = {k: report[k] for k in (*FIELDS, "threshold", "oos_method")}
            entry.update({k: report[k] for k in ("oos_policy", "oos_detector") if k in report})
            entry.update(best_points(curve))
            entry["curve"] = [[p["in_scope_accuracy"], p["oos_recall"]] for p in curve]
            run[name] = entry
            print(
                f"seed {seed} {name}: in-scope {entry['in_scope_accuracy']:.4f} "
                f"oos recall {entry['oos_recall']:.4f} auroc {entry['oos_auroc']:.4f}",
                file=sys.stderr,
                flush=True,
            )
        results["runs"].append(run)
    for name in ("detector", "baseline"):
        results[name] = summary([r[name] for r in results["runs"]])
    ours, base = results["detector"], results["baseline"]
    results["ratio_to_baseline"] = {
        k: round(ours[k] / base[k], 4) if base[k] else None
        for k in ("in_scope_accuracy", "oos_recall", "oos_auroc", "oos_recall_at_in_scope_0.90")
    }
    results["per_message"] = per_message_cost(
        raw,
        encoder.encode([ex.text for ex in train]),
        77 - HELD_OUT,
    )
    results["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
