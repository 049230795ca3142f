"""The escalation policy read on the written chat messages, out of fold.

Both conversation dev splits are nearly saturated (the bot escalates almost every message
there that needs a person), so they cannot show which rules still miss. The written chat
messages (``nlp/data/chat_messages.csv``, labelled by the evaluation set's rules) can, read
out of fold: in ``--folds`` stratified folds, the intent model (head, out-of-scope detector,
neighbour and n-gram votes) and the complaint head are trained on careloop's own intent
examples plus the other folds, and the held-out fold goes through the NLU and :func:`decide`. The
shipped sentiment head is used as it is. Baseline in the same run: the policy without the
tone cues (the models alone).

Message texts of the misses are printed only with ``--show-misses``; these are training
data, not an evaluation split, so reading them is allowed.

    .venv/bin/python -m bench.escalation_oof [--folds 5] [--show-misses]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from typing import Any

import numpy as np

from bot.policy.escalation import Action, PolicyConfig, decide
from nlp import complaint_build
from nlp.base import OOS_LABEL, Understanding
from nlp.classifiers import IntentClassifier, SentimentClassifier
from nlp.dataset import ChatMessage, chat_messages, own_examples
from nlp.encoder import SentenceEncoder
from nlp.pipeline import NLU, NLUConfig
from nlp.pretrained import shipped_sentiment
from nlp.tone import Tone
from nlp.training import train_head_on_vectors


def out_of_fold(folds: int, seed: int = 0) -> tuple[list[ChatMessage], list[Understanding]]:
    """Every chat message as understood by models that never saw it."""
    from sklearn.model_selection import StratifiedKFold

    encoder = SentenceEncoder()
    shipped = shipped_sentiment(encoder)
    if shipped is None:
        raise SystemExit("no shipped sentiment head fits this encoder")
    sentiment = SentimentClassifier(shipped.head)
    own = own_examples("intent")
    messages = chat_messages()
    own_vectors = encoder.encode([e.text for e in own])
    vectors = encoder.encode([m.text for m in messages])
    understood: list[Understanding | None] = [None] * len(messages)
    split = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, held in split.split(vectors, [m.escalate for m in messages]):
        trained = train_head_on_vectors(
            np.vstack([own_vectors, vectors[train]]),
            [e.label for e in own] + [messages[i].intent for i in train],
            oos_label=OOS_LABEL,
            detector=True,
            oos_weight=NLUConfig.intent_oos_weight,
            texts=[e.text for e in own] + [messages[i].text for i in train],
        )
        intent = IntentClassifier(
            trained.head,
            detector=trained.detector,
            neighbours=trained.neighbours,
            ngrams=trained.ngrams,
        )
        rows = [i for i in train if complaint_build.learns_from(messages[i])]
        complaint, _ = complaint_build.fit(
            complaint_build.rows_of([messages[i] for i in train]),
            vectors[rows],
            complaint_build.BuildConfig(seed=seed),
        )
        nlu = NLU(encoder, intent, sentiment, complaint=complaint)
        for i, u in zip(held, nlu.understand_batch([messages[i].text for i in held]), strict=True):
            understood[i] = u
    return messages, [u for u in understood if u is not None]


def score(
    messages: list[ChatMessage], understood: list[Understanding], *, cues: bool
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    config = PolicyConfig()
    tp = fp = fn = 0
    wrong: list[dict[str, Any]] = []
    for m, u in zip(messages, understood, strict=True):
        seen = u if cues else replace(u, tone=Tone())
        d = decide(seen, previous_intents=[], previous_scores=[], config=config)
        escalated = d.action is Action.escalate
        tp += escalated and m.escalate
        fp += escalated and not m.escalate
        fn += m.escalate and not escalated
        if escalated != m.escalate:
            wrong.append(
                {
                    "text": m.text,
                    "escalate": m.escalate,
                    "reason": d.reason.value if d.reason else None,
                    "intent": m.intent,
                    "predicted": u.intent.label,
                    "sentiment": round(u.sentiment.score, 3),
                    "complaint": round(u.complaint or 0.0, 3),
                    "cues": list(u.tone.cues),
                }
            )
    result = {
        "precision": round(tp / max(1, tp + fp), 4),
        "recall": round(tp / max(1, tp + fn), 4),
        "tp": tp,
        "fp": fp,
        "fn": fn,
    }
    return result, wrong


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--show-misses", action="store_true")
    args = parser.parse_args()
    messages, understood = out_of_fold(args.folds)
    policy, wrong = score(messages, understood, cues=True)
    models_only, _ = score(messages, understood, cues=False)
    report: dict[str, Any] = {
        "messages": len(messages),
        "to_escalate": sum(m.escalate for m in messages),
        "folds": args.folds,
        "escalation": policy,
        "escalation_models_only": models_only,
        "recall_ratio_to_models_only": round(
            policy["recall"] / max(1e-9, models_only["recall"]), 3
        ),
        "intent_accuracy": round(
            sum(u.intent.label == m.intent for m, u in zip(messages, understood, strict=True))
            / len(messages),
            4,
        ),
        "misses_without_any_cue": sum(1 for w in wrong if w["escalate"] and not w["cues"]),
    }
    if args.show_misses:
        report["wrong"] = wrong
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
