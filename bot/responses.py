"""The bot's response book: per-intent templates from an editable YAML file."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from nlp.language_id import DETECTED

log = logging.getLogger(__name__)
# libyaml's safe loader where PyYAML has it: the shipped book, in ten languages, took 0.87 s
# to read with the pure-Python one and 0.07 s with it
_SAFE_LOADER = yaml.CSafeLoader if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader
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


class _Words(dict[str, str]):
    """A translation's words for values the program fills in (an order's status); a value
    it lacks reads as itself."""

    def __missing__(self, key: str) -> str:
        return key


@dataclass(frozen=True)
class Translation:
    """The book in one more language: answers by key (any it lacks stay in the book's
    own language), the shop's texts (its hours) and the words for order statuses."""

    variants: dict[str, list[Variant]]
    shop: dict[str, Any]
    words: _Words


_UNTRANSLATED = Translation({}, {}, _Words())


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


def _variants(items: Any, where: str) -> list[Variant]:
    """One answer's variants: each a ``text`` with optional ``requires`` and ``buttons``."""
    if not isinstance(items, list) or not items:
        raise ResponsesError(f"{where} must be a non-empty list")
    parsed = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            raise ResponsesError(f"{where}[{i}] needs a 'text'")
        raw_buttons = item.get("buttons") or []
        if not isinstance(raw_buttons, list):
            raise ResponsesError(f"{where}[{i}]: 'buttons' must be a list")
        requires = item.get("requires") or []
        if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
            raise ResponsesError(f"{where}[{i}]: 'requires' must be a list of names")
        buttons = tuple(_button(b, f"{where}[{i}]") for b in raw_buttons)
        parsed.append(Variant(item["text"], frozenset(requires), buttons))
    return parsed


def _language(code: Any, where: str) -> str:
    if code not in DETECTED:
        raise ResponsesError(
            f"{where}: careloop cannot tell when a customer writes in {code!r}; it reads "
            f"{', '.join(DETECTED)}"
        )
    return str(code)


def _translations(doc: Any, path: str, answers: set[str]) -> dict[str, Translation]:
    """The book's ``translations:``: per language code, ``responses`` (answers by key, as
    above), ``shop`` (texts of the shop that change with the language, e.g. ``hours``) and
    ``words`` (how an order's status reads: ``{{ words[order.status] }}``)."""
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ResponsesError(f"{path}: 'translations' must be a mapping of languages")
    out = {}
    for code, block in doc.items():
        where = f"{path}: translations.{code}"
        language = _language(code, where)
        if not isinstance(block, dict):
            raise ResponsesError(f"{where} must be a mapping")
        responses, shop, words = (block.get(k) or {} for k in ("responses", "shop", "words"))
        if not all(isinstance(x, dict) for x in (responses, shop, words)):
            raise ResponsesError(f"{where}: 'responses', 'shop' and 'words' must be mappings")
        if not all(isinstance(v, str) for v in words.values()):
            raise ResponsesError(f"{where}.words: every word must be a text")
        unknown = sorted(str(k) for k in responses if str(k) not in answers)
        if unknown:
            raise ResponsesError(f"{where}: no answer {', '.join(unknown)} in 'responses'")
        variants = {
            str(k): _variants(items, f"{where}.responses.{k}") for k, items in responses.items()
        }
        out[language] = Translation(variants, dict(shop), _Words(words))
    return out


def _faq(items: Any, path: str) -> list[tuple[FaqEntry, str, dict[str, str]]]:
    """The book's ``faq:`` list: each item ``questions`` (a list of texts), ``answer``
    (a template like any response) and optional ``translations`` (the answer by language
    code), keyed ``faq.1``, ``faq.2``, ... in the file's order."""
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
        translated = item.get("translations") or {}
        if not isinstance(translated, dict) or not all(
            isinstance(t, str) and t.strip() for t in translated.values()
        ):
            raise ResponsesError(f"{where}: 'translations' maps language codes to answers")
        answers = {_language(code, where): text for code, text in translated.items()}
        key = f"{FAQ_PREFIX}{i + 1}"
        entries.append((FaqEntry(key, tuple(q.strip() for q in questions)), answer, answers))
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
        translations: dict[str, Translation] | None = None,
    ) -> None:
        self._variants = variants
        self.shop = shop
        self.faq = faq  # the shop's frequent questions (bot/faq.py matches messages to them)
        self.version = version  # the stored version it came from (0: a file)
        self.translations = translations or {}
        self._sources = {
            ("", key, i): v.text for key, vs in variants.items() for i, v in enumerate(vs)
        } | {
            (code, key, i): v.text
            for code, translation in self.translations.items()
            for key, vs in translation.variants.items()
            for i, v in enumerate(vs)
        }
        for source in self._sources.values():
            _env.parse(source)  # (a syntax error refuses the book; compiled when first used)
        self._compiled: dict[tuple[str, str, int], Template] = {}
        self._uses: dict[tuple[str, str], bool] = {}  # (key, name) -> uses(key, name)

    def _template(self, language: str, key: str, index: int) -> Template:
        """The compiled template of a variant: compiled on first use, as most of a book's
        thousand variants (ten languages) are never used by one process. Measured on the
        shipped book: compiling all 960 took 1.2 s at every load and publish, checking
        their syntax 0.4 s."""
        found = self._compiled.get((language, key, index))
        if found is None:
            found = _env.from_string(self._sources[(language, key, index)])
            self._compiled[(language, key, index)] = found
        return found

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
            doc = yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506 (a safe loader)
        except yaml.YAMLError as exc:
            raise ResponsesError(f"{path}: cannot read responses: {exc}") from exc
        if not isinstance(doc, dict) or not isinstance(doc.get("responses"), dict):
            raise ResponsesError(f"{path}: expected a 'responses:' mapping")
        if not isinstance(doc.get("shop") or {}, dict):
            raise ResponsesError(f"{path}: 'shop' must be a mapping")
        variants = {
            str(key): _variants(items, f"{path}: responses.{key}")
            for key, items in doc["responses"].items()
        }
        translations = _translations(doc.get("translations"), path, set(variants))
        faq = _faq(doc.get("faq"), path)
        for entry, answer, answers in faq:
            variants[entry.key] = [Variant(answer, frozenset())]
            for code, text in answers.items():
                translation = translations.setdefault(code, Translation({}, {}, _Words()))
                translation.variants[entry.key] = [Variant(text, frozenset())]
        try:
            return cls(
                variants,
                dict(doc.get("shop") or {}),
                version=version,
                faq=tuple(entry for entry, _, _ in faq),
                translations=translations,
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

    def render_variant(
        self, key: str, index: int, context: dict[str, Any], language: str = ""
    ) -> str:
        """One variant (of the translation into ``language``, if given) rendered with
        ``context`` whatever its ``requires`` (for previews); raises ``TemplateError`` when
        it cannot be rendered."""
        template = self._template(language, key, index)
        return template.render(self._scope(language, context)).strip()

    def _scope(self, language: str, context: dict[str, Any]) -> dict[str, Any]:
        """The context a template of ``language`` renders with; a ``shop`` in the context
        (e.g. the name a setting gives) goes over the book's."""
        translation = self.translations.get(language, _UNTRANSLATED)
        # (``self.shop`` read now: the factory sets its name from the settings after load)
        shop = self.shop | translation.shop | context.get("shop", {})
        return {"words": translation.words} | context | {"shop": shop}

    def uses(self, key: str, name: str) -> bool:
        """Whether any variant of ``key``, in any language, requires or reads ``name``
        (e.g. ``order``)."""
        found = self._uses.get((key, name))
        if found is None:  # (asked for every reply that may show an order: once per key)
            pattern = re.compile(rf"\b{re.escape(name)}\b")
            variants = [
                *self._variants.get(key, []),
                *(v for t in self.translations.values() for v in t.variants.get(key, [])),
            ]
            found = any(name in v.requires or pattern.search(v.text) for v in variants)
            self._uses[(key, name)] = found
        return found

    def render(self, key: str, context: dict[str, Any]) -> str | None:
        """The text for ``key`` given ``context`` (missing keys of ``requires`` skip a variant)."""
        reply = self.reply(key, context)
        return reply.text if reply else None

    def reply(self, key: str, context: dict[str, Any]) -> Reply | None:
        """The first usable variant of ``key`` rendered with ``context``, with its buttons:
        in the language ``context["lang"]`` where the book has it translated, otherwise in
        the book's own."""
        language = context.get("lang") or ""
        translated = self.translations.get(language, _UNTRANSLATED).variants.get(key)
        tries = [(language, translated)] if translated else []
        for code, variants in [*tries, ("", self._variants.get(key, []))]:
            scope = self._scope(code, context)
            for i, variant in enumerate(variants):
                if not all(context.get(req) for req in variant.requires):
                    continue
                try:
                    text = self._template(code, key, i).render(scope).strip()
                except TemplateError as exc:  # e.g. a variant reads `order` without requiring it
                    log.warning(
                        "bot.responses.render_failed key=%s language=%s variant=%d error=%s",
                        key,
                        code or "-",
                        i,
                        exc,
                    )
                    continue
                return Reply(text, variant.buttons) if text else None
        return None
