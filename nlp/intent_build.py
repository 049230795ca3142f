"""Build the intent model shipped in ``nlp/pretrained/intent/`` from the bundled examples.

    .venv/bin/python -m nlp.intent_build        (or: make models)

It trains exactly what a first start would train (``fast`` mode: the head, its calibration
and the out-of-scope detector with the default out-of-scope weight) and writes it with the
data's fingerprint, so a start-up can tell whether it still fits. Run it after changing
``nlp/data/intents.yml``; ``tests/test_shipped_intent.py`` fails until then.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from nlp.base import OOS_LABEL
from nlp.dataset import bundled_examples, data_hash
from nlp.encoder import SentenceEncoder
from nlp.pipeline import NLUConfig
from nlp.pretrained import INTENT_DIR, pretrained_dir, write_shipped_intent
from nlp.training import train_head


def build(directory: Path, oos_weight: float) -> dict[str, object]:
    encoder = SentenceEncoder()
    examples = bundled_examples("intent")
    started = time.perf_counter()
    trained = train_head(
        encoder, examples, oos_label=OOS_LABEL, detector=True, oos_weight=oos_weight
    )
    meta = {
        "data_sha256": data_hash(examples),
        "n_examples": len(examples),
        "oos_weight": oos_weight,
        "metrics": trained.metrics,
        "build_seconds": round(time.perf_counter() - started, 1),
    }
    return write_shipped_intent(
        directory,
        trained.head,
        trained.detector,
        meta,
        encoder,
        trained.neighbours,
        trained.ngrams,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=pretrained_dir() / INTENT_DIR)
    parser.add_argument("--oos-weight", type=float, default=NLUConfig.intent_oos_weight)
    args = parser.parse_args()
    meta = build(args.out, args.oos_weight)
    print(f"wrote {args.out}: {meta['n_examples']} examples in {meta['build_seconds']} s")


if __name__ == "__main__":
    main()
