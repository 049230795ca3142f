"""The bot's response book: per-intent templates from an editable YAML file."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

log = logging.getLogger(__name__)
_env = SandboxedEnvironment(autoescape=False, undefined=StrictUndefined)


def default_path() -> Path:
    """The response book shipped with the bot."""
    return Path(str(resources.files("bot") / "responses.yml"))


class ResponsesError(ValueError):
    """The responses file is malformed; the message says where."""


BUTTON_DATA_MAX_BYTES = 64  # Telegram's limit for callback data


@dataclass(frozen=True)
class Button:
    """A quick-reply button; ``data`` is ``say:<text>`` (send the text) or a command."""

    text: str
    data: str

    def as_dict(self) -> dict[str, str]:
        return {"text": self.text, "data": self.data}


@dataclass(frozen=True)
class Reply:
    text: str
    buttons: tuple[Button, ...] = ()

    def payload(self) -> dict[str, Any]:
        return {"buttons": [b.as_dict() for b in self.buttons]} if self.buttons else {}


@dataclass(frozen=True)
class FaqEntry:
    """One of the shop's frequent questions: ways of asking it, and the answer's key."""

    key: str  # ``faq.<n>``, the answer's key in the book
    questions: tuple[str, ...]


FAQ_PREFIX = "faq."


@dataclass(frozen=True)
class Variant:
    text: str
    requires: frozenset[str]
    buttons: tuple[Button, ...] = ()


def _button(item: Any, where: str) -> Button:
    if isinstance(item, str):
        button = Button(item, f"say:{item}")
    elif isinstance(item, dict) and isinstance(item.get("text"), str) and item.get("data"):
        button = Button(item["text"], str(item["data"]))
    else:
        raise ResponsesError(f"{where}: a button is a label or a mapping with 'text' and 'data'")
    if not button.text.strip():
        raise ResponsesError(f"{where}: a button needs a label")
    if len(button.data.encode()) > BUTTON_DATA_MAX_BYTES:
        raise ResponsesError(
            f"{where}: button {button.text!r} is too long (at most {BUTTON_DATA_MAX_BYTES - 4} "
            "bytes)"
        )
    return button


def _faq(items: Any, path: str) -> list[tuple[FaqEntry, str]]:
    """The book's ``faq:`` list: each item ``questions`` (a list of texts) and ``answer``
    (a template like any response), keyed ``faq.1``, ``faq.2``, ... in the file's order."""
    if items is None:
        return []
    if not isinstance(items, list):
        raise ResponsesError(f"{path}: 'faq' must be a list of questions and answers")
    entries = []
    for i, item in enumerate(items):
        where = f"{path}: faq[{i}]"
        questions = item.get("questions") if isinstance(item, dict) else None
        if not isinstance(questions, list) or not questions:
            raise ResponsesError(f"{where} needs 'questions', a list of ways to ask it")
        if not all(isinstance(q, str) and q.strip() for q in questions):
            raise ResponsesError(f"{where}: every question must be a non-empty text")
        answer = item.get("answer")
        if not isinstance(answer, str) or not answer.strip():
            raise ResponsesError(f"{where} needs an 'answer' text")
        key = f"{FAQ_PREFIX}{i + 1}"
        entries.append((FaqEntry(key, tuple(q.strip() for q in questions)), answer))
    return entries


class ResponseBook:
    """Renders the reply for an intent with CRM context, choosing the first usable variant."""

    def __init__(
        self,
        variants: dict[str, list[Variant]],
        shop: dict[str, Any],
        *,
        version: int = 0,
        faq: tuple[FaqEntry, ...] = (),
    ) -> None:
        self._variants = variants
        self.shop = shop
        self.faq = faq  # the shop's frequent questions (bot/faq.py matches messages to them)
        self.version = version  # the stored version it came from (0: a file)
        self._compiled = {
            (key, i): _env.from_string(v.text)
            for key, vs in variants.items()
            for i, v in enumerate(vs)
        }

    @classmethod
    def load(cls, path: Path | None = None) -> ResponseBook:
        """The book in ``path`` (default: the shipped ``bot/responses.yml``)."""
        path = path or default_path()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ResponsesError(f"{path}: cannot read responses: {exc}") from exc
        return cls.parse(text, where=str(path))

    @classmethod
    def parse(cls, text: str, *, where: str = "responses", version: int = 0) -> ResponseBook:
        """The book written in ``text`` (YAML); errors name ``where`` and the bad part."""
        path = where
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ResponsesError(f"{path}: cannot read responses: {exc}") from exc
        if not isinstance(doc, dict) or not isinstance(doc.get("responses"), dict):
            raise ResponsesError(f"{path}: expected a 'responses:' mapping")
        if not isinstance(doc.get("shop") or {}, dict):
            raise ResponsesError(f"{path}: 'shop' must be a mapping")
        variants: dict[str, list[Variant]] = {}
        for key, items in doc["responses"].items():
            if not isinstance(items, list) or not items:
                raise ResponsesError(f"{path}: responses.{key} must be a non-empty list")
            parsed = []
            for i, item in enumerate(items):
                if not isinstance(item, dict) or not isinstance(item.get("text"), str):
                    raise ResponsesError(f"{path}: responses.{key}[{i}] needs a 'text'")
                where = f"{path}: responses.{key}[{i}]"
                raw_buttons = item.get("buttons") or []
                if not isinstance(raw_buttons, list):
                    raise ResponsesError(f"{where}: 'buttons' must be a list")
                requires = item.get("requires") or []
                if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
                    raise ResponsesError(f"{where}: 'requires' must be a list of names")
                parsed.append(
                    Variant(
                        item["text"],
                        frozenset(requires),
                        tuple(_button(b, where) for b in raw_buttons),
                    )
                )
            variants[str(key)] = parsed
        faq = _faq(doc.get("faq"), path)
        variants |= {entry.key: [Variant(answer, frozenset())] for entry, answer in faq}
        try:
            return cls(
                variants,
                dict(doc.get("shop") or {}),
                version=version,
                faq=tuple(entry for entry, _ in faq),
            )
        except TemplateError as exc:
            raise ResponsesError(f"{path}: invalid template: {exc}") from exc

    def has(self, key: str) -> bool:
        return key in self._variants

    def answers(self) -> list[str]:
        """The answer keys (intents and bot events) in the book's order."""
        return list(self._variants)

    def variants(self, key: str) -> list[Variant]:
        return list(self._variants.get(key, []))

    def render_variant(self, key: str, index: int, context: dict[str, Any]) -> str:
        """One variant rendered with ``context`` whatever its ``requires`` (for previews);
        raises ``TemplateError`` when it cannot be rendered."""
        return self._compiled[(key, index)].render({"shop": self.shop, **context}).strip()

    def uses(self, key: str, name: str) -> bool:
        """Whether any variant of ``key`` requires or reads ``name`` (e.g. ``order``)."""
        pattern = re.compile(rf"\b{re.escape(name)}\b")
        return any(
            name in v.requires or pattern.search(v.text) for v in self._variants.get(key, [])
        )

    def render(self, key: str, context: dict[str, Any]) -> str | None:
        """The text for ``key`` given ``context`` (missing keys of ``requires`` skip a variant)."""
        reply = self.reply(key, context)
        return reply.text if reply else None

    def reply(self, key: str, context: dict[str, Any]) -> Reply | None:
        """The first usable variant of ``key`` rendered with ``context``, with its buttons."""
        for i, variant in enumerate(self._variants.get(key, [])):
            if not all(context.get(req) for req in variant.requires):
                continue
            try:
                text = self._compiled[(key, i)].render({"shop": self.shop, **context}).strip()
            except TemplateError as exc:  # e.g. a variant reads `order` without requiring it
                log.warning("bot.responses.render_failed key=%s variant=%d error=%s", key, i, exc)
                continue
            return Reply(text, variant.buttons) if text else None
        return None
