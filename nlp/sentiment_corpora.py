"""Readers for the public 3-class sentiment corpora the shipped sentiment head is built and
measured on (docs/sentiment.md names each source, its license and size).

The corpora are not part of careloop: fetch them into one folder (``--corpora DIR``) laid
out as below; each reader takes that folder and returns ``Example(text, label)`` rows with
labels ``negative`` / ``neutral`` / ``positive``.

==============  ====================================================================
``semeval2017`` SemEval-2017 Task 4A English tweets: ``twitter-20{13..16}*-A.tsv``
                (``id<TAB>label<TAB>text``; TweetEval's train + validation pool) and the
                2017 test set ``SemEval2017-task4-test.subtask-A.english.txt`` with
                ``SemEval2017_task4_subtaskA_test_english_gold.txt``
``tweeteval``   TweetEval sentiment: ``{split}_text.txt`` / ``{split}_labels.txt``
                (0 negative, 1 neutral, 2 positive); its test split is SemEval-2017's test
``sst``         Stanford Sentiment Treebank PTB trees ``{train,dev,test}.txt``; the root's
                0-4 label maps to negative (0-1), neutral (2), positive (3-4)
``meld``        MELD (Friends dialogue utterances): ``{train,dev,test}.csv`` with
                ``Utterance`` and ``Sentiment`` columns
``apple``       Apple Twitter Sentiment (CrowdFlower "Data for Everyone"):
                ``Apple-Twitter-Sentiment-DFE.csv``; sentiment 1 / 3 / 5, rows marked
                ``not_relevant`` are left out
``bitext``      Bitext customer-support training set (CDLA-Sharing-1.0), the 4,514-row
                ``Bitext_Sample_Customer_Support_Training_Dataset.csv`` (columns
                ``instruction``, ``intent``, ``tags``, ...): customer requests to a support
                bot, all read as ``neutral``; the ``complaint`` intent and every row tagged
                ``W`` (offensive language) are left out (:func:`bitext`)
==============  ====================================================================
"""

from __future__ import annotations

import csv
import html
import re
from collections.abc import Callable
from pathlib import Path

from nlp.dataset import DataError, Example

LABELS = ("negative", "neutral", "positive")

# The SemEval files that make up TweetEval's training and validation data (2013-2016).
SEMEVAL_TRAIN_FILES = (
    "twitter-2013train-A.tsv",
    "twitter-2013dev-A.tsv",
    "twitter-2013test-A.tsv",
    "twitter-2014test-A.tsv",
    "twitter-2014sarcasm-A.tsv",
    "twitter-2015train-A.tsv",
    "twitter-2015test-A.tsv",
    "twitter-2016train-A.tsv",
    "twitter-2016dev-A.tsv",
    "twitter-2016devtest-A.tsv",
    "twitter-2016test-A.tsv",
)
SEMEVAL_TEST_TEXT = "SemEval2017-task4-test.subtask-A.english.txt"
SEMEVAL_TEST_GOLD = "SemEval2017_task4_subtaskA_test_english_gold.txt"

_USER = re.compile(r"@\w+")
_URL = re.compile(r"https?://\S+")
_SPACE = re.compile(r"\s+")
_ESCAPED = re.compile(r"\\u([0-9a-fA-F]{4})")


def normalise_tweet(text: str) -> str:
    """Tweets as the encoder should see them: user names and links as placeholders (the
    usual TweetEval preprocessing), whitespace collapsed."""
    text = html.unescape(_ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), text))
    text = _URL.sub("http", _USER.sub("@user", text))
    return _SPACE.sub(" ", text).strip()


def _file(root: Path, name: str) -> Path:
    path = root / name
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    return path


def semeval2017(root: Path, split: str = "train") -> list[Example]:
    """``train``: the 2013-2016 tweets (duplicates by text dropped); ``test``: 2017's."""
    base = root / "semeval2017"
    rows: list[Example] = []
    if split == "test":
        texts = _file(base, SEMEVAL_TEST_TEXT).read_text(encoding="utf-8").splitlines()
        gold = _file(base, SEMEVAL_TEST_GOLD).read_text(encoding="utf-8").splitlines()
        labels = {line.split("\t")[0]: line.split("\t")[1] for line in gold if "\t" in line}
        for line in texts:
            parts = line.split("\t")
            if len(parts) >= 3 and labels.get(parts[0]) in LABELS:
                rows.append(Example(normalise_tweet("\t".join(parts[2:])), labels[parts[0]]))
        return rows
    seen: set[str] = set()
    for name in SEMEVAL_TRAIN_FILES:
        for line in _file(base, name).read_text(encoding="utf-8").splitlines():
            parts = line.split("\t")
            if len(parts) < 3 or parts[1] not in LABELS:
                continue
            text = normalise_tweet("\t".join(parts[2:]))
            if text and text != "Not Available" and text.casefold() not in seen:
                seen.add(text.casefold())
                rows.append(Example(text, parts[1]))
    return rows


def tweeteval(root: Path, split: str = "test") -> list[Example]:
    base = root / "tweeteval"
    texts = _file(base, f"{split}_text.txt").read_text(encoding="utf-8").splitlines()
    labels = _file(base, f"{split}_labels.txt").read_text(encoding="utf-8").splitlines()
    if len(texts) != len(labels):
        raise DataError(f"{base}: {split} has {len(texts)} texts but {len(labels)} labels")
    return [
        Example(normalise_tweet(t), LABELS[int(lbl)])
        for t, lbl in zip(texts, labels, strict=True)
        if t.strip()
    ]


_TREE_LEAF = re.compile(r"\(\d ([^()]+)\)")
_PTB = {"-LRB-": "(", "-RRB-": ")", "``": '"', "''": '"', "\\/": "/"}
_DETOKEN = re.compile(r" (?=[.,!?;:%)]|'s\b|'re\b|n't\b|'ve\b|'ll\b|'d\b|'m\b)|(?<=\() ")


def sst(root: Path, split: str = "train") -> list[Example]:
    """Whole sentences of the treebank (root labels), 3 classes."""
    rows: list[Example] = []
    for line in _file(root / "sst", f"{split}.txt").read_text(encoding="utf-8").splitlines():
        if not line.startswith("("):
            continue
        score = int(line[1])
        words = [_PTB.get(w, w) for w in _TREE_LEAF.findall(line)]
        text = _DETOKEN.sub("", " ".join(words))
        label = "negative" if score <= 1 else "neutral" if score == 2 else "positive"
        rows.append(Example(text, label))
    return rows


def meld(root: Path, split: str = "train") -> list[Example]:
    rows: list[Example] = []
    with _file(root / "meld", f"{split}.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            text = _SPACE.sub(" ", row["Utterance"].replace("\x92", "'")).strip()
            if text and row["Sentiment"] in LABELS:
                rows.append(Example(text, row["Sentiment"]))
    return rows


def apple(root: Path, split: str = "all") -> list[Example]:
    """The whole set (it has no official split)."""
    path = _file(root / "apple", "Apple-Twitter-Sentiment-DFE.csv")
    names = {"1": "negative", "3": "neutral", "5": "positive"}
    rows: list[Example] = []
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        reader = csv.reader(fh, delimiter=";" if ";" in fh.readline() else ",")
        fh.seek(0)
        header: list[str] | None = None
        for row in reader:
            if header is None:
                if "sentiment" in row and "text" in row:
                    header = row
                continue
            record = dict(zip(header, row, strict=False))
            label = names.get(record.get("sentiment", "").strip())
            text = normalise_tweet(record.get("text", ""))
            if label and text:
                rows.append(Example(text, label))
    if not rows:
        raise DataError(f"{path}: no labelled rows")
    return rows


BITEXT_FILE = "Bitext_Sample_Customer_Support_Training_Dataset.csv"
BITEXT_NOT_NEUTRAL = frozenset({"complaint"})  # intents whose rows may well read negative


def bitext(root: Path, split: str = "neutral") -> list[Example]:
    """Bitext's customer requests ("how can I cancel purchase 113542617735902?", "where to
    report an issue with a registration?") as ``neutral`` rows: the corpus has no sentiment
    labels, but every row is a request to a support bot written to show one intent. Rows
    that need not be neutral are left out rather than guessed: the ``complaint`` intent
    ("I'm terribly unhappy with ur service lodge a claim") and the rows tagged ``W``,
    offensive language ("i dont want the last damn purchase i made"). Duplicates by text
    are dropped."""
    if split != "neutral":
        raise DataError(f"bitext has only the split 'neutral', not {split!r}")
    rows: list[Example] = []
    seen: set[str] = set()
    with _file(root / "bitext", BITEXT_FILE).open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["intent"] in BITEXT_NOT_NEUTRAL or "W" in row["tags"]:
                continue
            text = _SPACE.sub(" ", row["instruction"]).strip()
            if text and text.casefold() not in seen:
                seen.add(text.casefold())
                rows.append(Example(text, "neutral"))
    if not rows:
        raise DataError(f"{root / 'bitext' / BITEXT_FILE}: no rows")
    return rows


READERS: dict[str, Callable[[Path, str], list[Example]]] = {
    "semeval2017": semeval2017,
    "tweeteval": tweeteval,
    "sst": sst,
    "meld": meld,
    "apple": apple,
    "bitext": bitext,
}


def read_corpus(root: Path, spec: str) -> list[Example]:
    """``name`` or ``name:split`` (e.g. ``sst:train``, ``tweeteval:test``)."""
    name, _, split = spec.partition(":")
    if name not in READERS:
        raise DataError(f"unknown corpus {name!r}; known: {', '.join(READERS)}")
    default = {"tweeteval": "test", "apple": "all", "bitext": "neutral"}.get(name, "train")
    return READERS[name](root, split or default)
