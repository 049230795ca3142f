"""The shipped sentiment head, zero-shot on public 3-class sentiment test sets it never
trained on, against two baselines in the same run on the same messages.

- ``shipped``: ``nlp/pretrained/sentiment.npz`` as a fresh install loads it;
- ``own_examples_head``: the head careloop trained at start-up before heads were shipped
  (``nlp/data/sentiment.yml`` alone, 5-fold temperature, as ``train_head`` does);
- ``vader``: VADER (``vaderSentiment``, a lexicon, no training), compound >= 0.05
  positive, <= -0.05 negative, else neutral.

A test set whose corpus is among the shipped head's sources (its ``sentiment.json``) is
refused; TweetEval's test split is SemEval-2017's test year, so with SemEval 2013-2016
tweets in training it is scored but reported as ``zero_shot: false``. Corpora layout:
:mod:`nlp.sentiment_corpora`.

    .venv/bin/python -m bench.sentiment_public --corpora DIR [--test apple --test meld:test]
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.sentiment import vader_label
from nlp.classifiers import SentimentClassifier
from nlp.dataset import bundled_data_path, load_examples
from nlp.encoder import SentenceEncoder
from nlp.pretrained import shipped_sentiment
from nlp.sentiment_build import encode_cached
from nlp.sentiment_corpora import LABELS, read_corpus
from nlp.training import train_head

DEFAULT_TESTS = ("apple", "meld:test", "tweeteval:test")
FAMILY = {"tweeteval": "semeval2017"}  # the same task and annotation, another year


def scores(truth: Sequence[str], predicted: Sequence[str]) -> dict[str, Any]:
    from sklearn.metrics import accuracy_score, f1_score

    per_class = f1_score(truth, predicted, average=None, labels=list(LABELS))
    return {
        "macro_f1": round(float(f1_score(truth, predicted, average="macro", labels=LABELS)), 4),
        "accuracy": round(float(accuracy_score(truth, predicted)), 4),
        "f1": {lbl: round(float(f), 4) for lbl, f in zip(LABELS, per_class, strict=True)},
    }


def main() -> None:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--corpora",
        type=Path,
        default=Path(os.environ.get("CARELOOP_SENTIMENT_CORPORA", "corpora/sentiment")),
    )
    parser.add_argument("--test", action="append", help="corpus[:split], repeatable")
    args = parser.parse_args()

    encoder = SentenceEncoder()
    shipped = shipped_sentiment(encoder)
    if shipped is None:
        raise SystemExit("no shipped sentiment head fits this encoder (see the log)")
    sources = [str(s["name"]) for s in shipped.meta["sources"]]
    trained_on = {name.partition(":")[0] for name in sources}
    own = train_head(encoder, load_examples(bundled_data_path("sentiment"))).head
    analyzer = SentimentIntensityAnalyzer()

    report: dict[str, Any] = {
        "encoder": encoder.name,
        "shipped_sources": sources,
    }
    for spec in args.test or DEFAULT_TESTS:
        name, _, split = spec.partition(":")
        if name in trained_on and split != "test":
            raise SystemExit(f"{spec}: the shipped head trained on this corpus")
        rows = read_corpus(args.corpora, spec)
        texts = [r.text for r in rows]
        truth = [r.label for r in rows]
        vectors = encode_cached(encoder, texts, args.corpora / ".embeddings")
        ours = [p.label for p in SentimentClassifier(shipped.head).predict(vectors, texts)]
        base = [own.labels[i] for i in own.predict_proba(vectors).argmax(1)]
        vader = [vader_label(analyzer, t) for t in texts]
        result: dict[str, Any] = {
            "zero_shot": FAMILY.get(name, name) not in trained_on,
            "n": len(rows),
            "labels": {lbl: truth.count(lbl) for lbl in LABELS},
            "shipped": scores(truth, ours),
            "own_examples_head": scores(truth, base),
            "vader": scores(truth, vader),
        }
        for name in ("own_examples_head", "vader"):
            result[f"macro_f1_ratio_to_{name}"] = round(
                result["shipped"]["macro_f1"] / max(1e-9, result[name]["macro_f1"]), 3
            )
        report[spec] = result
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
