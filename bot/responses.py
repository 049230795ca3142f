"""The bot's response book: per-intent templates from an editable YAML file."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

log = logging.getLogger(__name__)
_env = SandboxedEnvironment(autoescape=False, undefined=StrictUndefined)


class ResponsesError(ValueError):
    """The responses file is malformed; the message says where."""


@dataclass(frozen=True)
class Variant:
    text: str
    requires: frozenset[str]


class ResponseBook:
    """Renders the reply for an intent with CRM context, choosing the first usable variant."""

    def __init__(self, variants: dict[str, list[Variant]], shop: dict[str, Any]) -> None:
        self._variants = variants
        self.shop = shop
        self._compiled = {
            (key, i): _env.from_string(v.text)
            for key, vs in variants.items()
            for i, v in enumerate(vs)
        }

    @classmethod
    def load(cls, path: Path | None = None) -> ResponseBook:
        path = path or Path(str(resources.files("bot") / "responses.yml"))
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ResponsesError(f"{path}: cannot read responses: {exc}") from exc
        if not isinstance(doc, dict) or not isinstance(doc.get("responses"), dict):
            raise ResponsesError(f"{path}: expected a 'responses:' mapping")
        variants: dict[str, list[Variant]] = {}
        for key, items in doc["responses"].items():
            if not isinstance(items, list) or not items:
                raise ResponsesError(f"{path}: responses.{key} must be a non-empty list")
            parsed = []
            for i, item in enumerate(items):
                if not isinstance(item, dict) or not isinstance(item.get("text"), str):
                    raise ResponsesError(f"{path}: responses.{key}[{i}] needs a 'text'")
                parsed.append(Variant(item["text"], frozenset(item.get("requires") or [])))
            variants[str(key)] = parsed
        try:
            return cls(variants, dict(doc.get("shop") or {}))
        except TemplateError as exc:
            raise ResponsesError(f"{path}: invalid template: {exc}") from exc

    def has(self, key: str) -> bool:
        return key in self._variants

    def render(self, key: str, context: dict[str, Any]) -> str | None:
        """The text for ``key`` given ``context`` (missing keys of ``requires`` skip a variant)."""
        for i, variant in enumerate(self._variants.get(key, [])):
            if not all(context.get(req) for req in variant.requires):
                continue
            try:
                return self._compiled[(key, i)].render({"shop": self.shop, **context}).strip()
            except TemplateError as exc:  # e.g. a variant reads `order` without requiring it
                log.warning("bot.responses.render_failed key=%s variant=%d error=%s", key, i, exc)
        return None
