"""Sentiment accuracy on careloop's own labelled messages, against VADER in the same run.

5-fold stratified cross-validation over ``nlp/data/sentiment.yml``: each fold trains the
fast-mode head on 4/5 and scores the held-out 1/5. The baseline is VADER
(``vaderSentiment``, a lexicon model, no training) on exactly the same held-out messages
with its standard cut-offs (compound ≥ 0.05 positive, ≤ -0.05 negative, else neutral).

    .venv/bin/python -m bench.sentiment [--data FILE] [--folds 5]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from nlp.dataset import bundled_data_path, load_examples
from nlp.encoder import SentenceEncoder
from nlp.head import LinearHead


def vader_label(analyzer: object, text: str) -> str:
    compound = float(analyzer.polarity_scores(text)["compound"])  # type: ignore[attr-defined]
    if compound >= 0.05:
        return "positive"
    if compound <= -0.05:
        return "negative"
    return "neutral"


def main() -> None:
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.model_selection import StratifiedKFold
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=bundled_data_path("sentiment"))
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()

    examples = load_examples(args.data)
    texts = [e.text for e in examples]
    labels = np.array([e.label for e in examples])
    encoder = SentenceEncoder()
    vectors = encoder.encode(texts)
    analyzer = SentimentIntensityAnalyzer()

    ours = np.empty(len(texts), dtype=object)
    folds = StratifiedKFold(n_splits=args.folds, shuffle=True, random_state=0)
    for train_idx, test_idx in folds.split(vectors, labels):
        head = LinearHead.fit(vectors[train_idx], list(labels[train_idx]))
        probs = head.predict_proba(vectors[test_idx])
        ours[test_idx] = [head.labels[i] for i in probs.argmax(axis=1)]
    vader = np.array([vader_label(analyzer, t) for t in texts], dtype=object)

    def score(predicted: np.ndarray) -> dict[str, float]:
        return {
            "accuracy": round(float(accuracy_score(labels, predicted)), 4),
            "macro_f1": round(float(f1_score(labels, predicted, average="macro")), 4),
        }

    report = {
        "n": len(texts),
        "folds": args.folds,
        "careloop_fast": score(ours),
        "vader_baseline": score(vader),
    }
    report["accuracy_ratio_to_vader"] = round(
        report["careloop_fast"]["accuracy"] / report["vader_baseline"]["accuracy"], 3
    )
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
