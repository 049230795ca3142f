"""BANKING77 intent accuracy in both training modes, against a plain reference.

Data: ``../shared/data/banking77_{train,test}.csv`` (77 intents; used only here, never
copied into the project). For the full training set and for 10 examples per intent (mean
of 3 seeds) it reports accuracy and macro-F1 of

- ``reference``: the bundled MiniLM frozen, normalised embeddings, scikit-learn
  ``LogisticRegression(C=10)`` (the baseline, run in the same process);
- ``fast``: careloop's fast mode (``nlp.evaluation.evaluate(mode="fast")``);
- ``finetune``: careloop's fine-tuned mode (the encoder trained too), with training time.

Published anchors (Casanueva et al. 2020, best dual encoder): 93.4 % full, 85.2 % 10-shot.

    .venv/bin/python -m bench.banking77 [--data-dir DIR] [--modes fast,finetune]
        [--shots 10] [--seeds 3] [--skip-full] [--skip-few]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from nlp.dataset import Example, load_examples
from nlp.encoder import SentenceEncoder
from nlp.evaluation import evaluate

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
ANCHORS = {"full": 0.934, "10-shot": 0.852}


def few_shot(train: list[Example], shots: int, seed: int) -> list[Example]:
    by_label: dict[str, list[Example]] = {}
    for ex in train:
        by_label.setdefault(ex.label, []).append(ex)
    rng = random.Random(seed)
    picked: list[Example] = []
    for label in sorted(by_label):
        picked.extend(rng.sample(by_label[label], min(shots, len(by_label[label]))))
    return picked


def reference(
    encoder: SentenceEncoder, train: list[Example], test: list[Example]
) -> dict[str, Any]:
    """Frozen normalised embeddings + sklearn LogisticRegression(C=10), nothing else."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score

    started = time.perf_counter()
    model = LogisticRegression(C=10, max_iter=2000)
    model.fit(encoder.encode([e.text for e in train]), [e.label for e in train])
    predicted = model.predict(encoder.encode([e.text for e in test]))
    truth = [e.label for e in test]
    return {
        "accuracy": float(accuracy_score(truth, predicted)),
        "macro_f1": float(f1_score(truth, predicted, average="macro")),
        "train_seconds": round(time.perf_counter() - started, 2),
    }


def run(
    name: str, encoder: SentenceEncoder, train: list[Example], test: list[Example]
) -> dict[str, Any]:
    if name == "reference":
        return reference(encoder, train, test)
    report = evaluate(encoder, train, test, mode=name)
    return {k: report[k] for k in ("accuracy", "macro_f1", "train_seconds")}


def mean_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "accuracy": statistics.mean(r["accuracy"] for r in runs),
        "accuracy_sd": statistics.pstdev(r["accuracy"] for r in runs),
        "macro_f1": statistics.mean(r["macro_f1"] for r in runs),
        "train_seconds": statistics.mean(r["train_seconds"] for r in runs),
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--modes", default="fast,finetune")
    parser.add_argument("--shots", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--skip-full", action="store_true")
    parser.add_argument("--skip-few", action="store_true")
    args = parser.parse_args()

    train = load_examples(args.data_dir / "banking77_train.csv")
    test = load_examples(args.data_dir / "banking77_test.csv")
    encoder = SentenceEncoder()
    names = ["reference", *[m for m in args.modes.split(",") if m]]
    results: dict[str, Any] = {"n_train": len(train), "n_test": len(test), "anchors": ANCHORS}
    for name in names:
        if not args.skip_full:
            results[f"{name}/full"] = run(name, encoder, train, test)
            print(name, "full", json.dumps(results[f"{name}/full"]), file=sys.stderr, flush=True)
        if not args.skip_few:
            runs = [
                run(name, encoder, few_shot(train, args.shots, seed), test)
                for seed in range(args.seeds)
            ]
            results[f"{name}/{args.shots}-shot"] = mean_of(runs)
            print(name, "few", json.dumps(runs), file=sys.stderr, flush=True)
    for key, value in list(results.items()):
        if "/" in key and key.split("/")[0] != "reference":
            ref = results.get(f"reference/{key.split('/')[1]}")
            if ref:
                value["ratio_to_reference"] = round(value["accuracy"] / ref["accuracy"], 4)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
