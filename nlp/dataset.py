"""Training examples from the project's YAML files or any ``text,label`` CSV."""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml


class DataError(ValueError):
    """A training or test file that cannot be used; the message names the line."""


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    label: str


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One labelled first message of a chat (``nlp/data/chat_messages.csv``)."""

    text: str
    intent: str
    escalate: bool  # a person should take over now (bench/data/conversation/README.md)
    sentiment: str


def bundled_data_path(task: str) -> Path:
    """The default training file shipped with careloop for ``task``."""
    name = {"intent": "intents.yml", "sentiment": "sentiment.yml"}[task]
    return Path(str(resources.files("nlp") / "data" / name))


CHAT_MESSAGES = "chat_messages.csv"
# Written for the sentiment head: calm messages about problems and the same kinds of
# situations written with feeling (docs/sentiment.md); only the sentiment head reads them.
CHAT_FEELINGS = "chat_feelings.csv"


def chat_messages(name: str = CHAT_MESSAGES) -> list[ChatMessage]:
    """Customer messages written and labelled by independent writers (docs/nlu.md): intent,
    escalation and sentiment per message, by the labelling rules of the conversation
    evaluation set, and never a text of that set (``name``: ``CHAT_MESSAGES`` or
    ``CHAT_FEELINGS``)."""
    path = Path(str(resources.files("nlp") / "data" / name))
    with path.open(newline="", encoding="utf-8") as fh:
        return [
            ChatMessage(row["text"], row["intent"], row["escalate"] == "1", row["sentiment"])
            for row in csv.DictReader(fh)
        ]


def own_examples(task: str) -> list[Example]:
    """The examples written for ``task`` as such: the task's file, and for intents also
    the same intents in ten other languages (``intents_languages.yml``)."""
    examples = load_examples(bundled_data_path(task))
    if task == "intent":
        examples += load_examples(bundled_data_path(task).with_name("intents_languages.yml"))
    return examples


def bundled_examples(task: str) -> list[Example]:
    """The examples careloop trains ``task`` on by default: its own examples, and for
    intents the written chat messages after them."""
    examples = own_examples(task)
    if task == "intent":
        examples += [Example(m.text, m.intent) for m in chat_messages()]
    return examples


def load_examples(path: Path) -> list[Example]:
    """Read examples from a YAML (label → list of texts) or CSV (``text,label``) file."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    is_yaml = path.suffix.lower() in (".yml", ".yaml")
    examples = _load_yaml(path) if is_yaml else _load_csv(path)
    if not examples:
        raise DataError(f"{path}: no examples found")
    return examples


def _load_yaml(path: Path) -> list[Example]:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise DataError(f"{path}: invalid YAML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    if not isinstance(doc, dict):
        raise DataError(f"{path}: expected a mapping with 'intents' or 'labels'")
    groups = doc.get("intents", doc.get("labels"))
    if not isinstance(groups, dict):
        raise DataError(f"{path}: expected 'intents:' or 'labels:' mapping label → examples")
    out: list[Example] = []
    for label, texts in groups.items():
        if not isinstance(texts, list):
            raise DataError(f"{path}: examples of {label!r} must be a list")
        for text in texts:
            if not isinstance(text, str | int | float) or not str(text).strip():
                raise DataError(f"{path}: empty or non-text example under {label!r}")
            out.append(Example(str(text).strip(), str(label)))
    return out


def _load_csv(path: Path) -> list[Example]:
    out: list[Example] = []
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                raise DataError(f"{path}: empty file (expected a header row 'text,label')")
            columns = [h.strip().lower() for h in header]
            if "text" not in columns or "label" not in columns:
                raise DataError(
                    f"{path}, line 1: header must name the columns 'text' and 'label', "
                    f"got {header!r}"
                )
            ti, li = columns.index("text"), columns.index("label")
            for row in reader:
                line = reader.line_num
                if not row or all(not cell.strip() for cell in row):
                    continue
                if len(row) != len(columns):
                    raise DataError(
                        f"{path}, line {line}: expected {len(columns)} fields, got {len(row)}"
                    )
                text, label = row[ti].strip(), row[li].strip()
                if not text:
                    raise DataError(f"{path}, line {line}: empty text")
                if not label:
                    raise DataError(f"{path}, line {line}: empty label")
                out.append(Example(text, label))
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    except csv.Error as exc:
        raise DataError(f"{path}: malformed CSV: {exc}") from exc
    return out


def data_hash(examples: list[Example]) -> str:
    """A stable fingerprint of the training data, stored with each model."""
    digest = hashlib.sha256()
    for ex in examples:
        digest.update(ex.label.encode() + b"\x1f" + ex.text.encode() + b"\x1e")
    return digest.hexdigest()
