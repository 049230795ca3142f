"""Campaign templates with a bounded cost: what one render may take is limited.

Jinja2's ``ImmutableSandboxedEnvironment`` already keeps templates away from Python's
internals and from changing lists and dicts. It does not bound what a render costs: nested
loops, ``'x' * 10**9``, ``9 ** 9 ** 9``, ``'x'.ljust(10**9)`` or a value doubled in every
step would hold the process (or its memory) for as long as they like. So, on top of it:

* the source is at most ``MAX_SOURCE`` characters;
* nothing is evaluated while compiling (no constant folding);
* every loop step and every call counts against ``MAX_STEPS`` per render, and the values
  it builds against ``MAX_BUILT`` characters;
* arithmetic, ``+``, ``*``, ``%``, ``~`` and every filter's result is at most ``MAX_VALUE``
  characters (or items), and whole numbers at most ``MAX_NUMBER`` in size; amplifying
  calls (``replace``, ``join``, ``indent``, ``wordwrap``, ``expandtabs``) are checked before
  they run, and so are ``%`` formats and ``str.format`` fields;
* whole-number arguments (widths, counts) of calls and filters are at most ``MAX_ARGUMENT``;
* the output is at most ``MAX_OUTPUT`` characters;
* a render stops after ``RENDER_SECONDS`` (checked at each of the points above).

A template over a limit raises :class:`TemplateLimit`; saving or previewing such a template
is refused (see ``crm.campaigns.messages.validate_template``).
"""

from __future__ import annotations

import contextvars
import re
import string
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, nodes
from jinja2.exceptions import SecurityError
from jinja2.filters import do_format, do_indent, do_replace, do_wordwrap
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

MAX_SOURCE = 10_000
MAX_STEPS = 2_000
MAX_VALUE = 20_000
MAX_BUILT = 1_000_000
MAX_NUMBER = 2**64
MAX_ARGUMENT = 10_000
MAX_OUTPUT = 16_000
RENDER_SECONDS = 0.5

_LOOP, _VALUE, _ARGUMENT = "careloop_loop", "careloop_value", "careloop_argument"
_PLUMBING = {"_loop_vars", "_block_vars", "caller"}  # what compiled templates pass along
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
_NUMBERS = re.compile(r"\d+")


class TemplateLimit(SecurityError):
    """A template went over one of the limits of a render."""


@dataclass
class _Budget:
    deadline: float
    seconds: float
    steps: int = 0
    built: int = 0

    def charge(self, steps: int, built: int = 0) -> None:
        self.steps += steps
        self.built += built
        if self.steps > MAX_STEPS:
            raise TemplateLimit(f"loops or calls more than {MAX_STEPS:,} times")
        if self.built > MAX_BUILT:
            raise TemplateLimit(f"builds more than {MAX_BUILT:,} characters of values")
        if time.monotonic() > self.deadline:
            raise TemplateLimit(f"takes longer than {self.seconds:g} s to render")


_budget: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "careloop_template_budget", default=None
)


def _charge(steps: int = 0, built: int = 0) -> None:
    budget = _budget.get()
    if budget is not None:
        budget.charge(steps, built)


def _size(value: Any, depth: int = 0) -> int:
    """Characters or items in ``value``, counting the strings inside lists (two levels)."""
    if isinstance(value, str | bytes):
        return len(value)
    if isinstance(value, list | tuple | set | frozenset | dict):
        total = len(value)
        if depth < 2:
            items = value.values() if isinstance(value, dict) else value
            total += sum(_size(item, depth + 1) for item in items)
        return total
    return 0


def _checked(value: Any) -> Any:
    """``value`` if it is within the value limits (and the render within its budget)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_NUMBER:
        raise TemplateLimit(f"makes a number larger than {MAX_NUMBER:,}")
    size = _size(value)
    if size > MAX_VALUE:
        raise TemplateLimit(f"makes a value longer than {MAX_VALUE:,} characters")
    _charge(built=size)
    return value


def _argument(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_ARGUMENT:
        raise TemplateLimit(f"passes a number larger than {MAX_ARGUMENT:,} (a width or count)")
    return value


def _loop(iterable: Iterable[Any]) -> Iterator[Any]:
    for item in iterable:
        _charge(1)
        yield item


def _within(estimate: int) -> None:
    if estimate > MAX_VALUE:
        raise TemplateLimit(f"makes a value longer than {MAX_VALUE:,} characters")


def _percent_format(spec: str) -> None:
    """Refuse ``%`` formats with a ``*`` or a width or precision over ``MAX_ARGUMENT``."""
    for match in _PERCENT_SPEC.finditer(spec):
        for part in match.groups():
            if part == "*" or (part and int(part) > MAX_ARGUMENT):
                raise TemplateLimit(f"formats wider than {MAX_ARGUMENT:,} characters")


def _brace_format(spec: str) -> None:
    """Refuse ``str.format`` fields with a width over ``MAX_ARGUMENT`` or nested fields."""
    try:
        fields = list(string.Formatter().parse(spec))
    except ValueError:
        return  # str.format raises the same error itself
    for _, _, format_spec, _ in fields:
        if format_spec and ("{" in format_spec or _too_wide(format_spec)):
            raise TemplateLimit(f"formats wider than {MAX_ARGUMENT:,} characters")


def _too_wide(format_spec: str) -> bool:
    return any(int(n) > MAX_ARGUMENT for n in _NUMBERS.findall(format_spec))


def _bounded_replace(eval_ctx: Any, s: Any, old: str, new: str, count: int | None = None) -> Any:
    text = str(s)
    _within(_replaced_size(text, str(old), str(new)))
    return do_replace(eval_ctx, s, old, new, count)


def _replaced_size(text: str, old: str, new: str) -> int:
    hits = text.count(old) if old else len(text) + 1
    return len(text) + hits * max(0, len(new) - len(old))


def _bounded_indent(s: str, width: int | str = 4, *args: Any, **kwargs: Any) -> str:
    text = str(s)
    pad = width if isinstance(width, str) else " " * _argument(width)
    _within(len(text) + (text.count("\n") + 1) * len(pad))
    return do_indent(s, width, *args, **kwargs)


def _bounded_wordwrap(environment: Any, s: str, width: int = 79, *args: Any, **kwargs: Any) -> str:
    wrapstring = kwargs.get("wrapstring") or (args[1] if len(args) > 1 else None) or "\n"
    _within(len(s) + (len(s) // max(1, width) + 1) * len(wrapstring))
    return do_wordwrap(environment, s, width, *args, **kwargs)


def _bounded_format(value: str, *args: Any, **kwargs: Any) -> str:
    _percent_format(str(value))
    return do_format(value, *args, **kwargs)


# (the filters' own markers: replace takes the eval context, wordwrap the environment)
_bounded_replace.jinja_pass_arg = do_replace.jinja_pass_arg  # type: ignore[attr-defined]
_bounded_wordwrap.jinja_pass_arg = do_wordwrap.jinja_pass_arg  # type: ignore[attr-defined]


def _precheck_call(obj: Any, args: tuple[Any, ...]) -> None:
    """Before a ``str`` method that multiplies its input runs: its result's size."""
    target = getattr(obj, "__self__", None)
    name = getattr(obj, "__name__", "")
    if not isinstance(target, str):
        return
    if name == "replace" and len(args) >= 2:
        _within(_replaced_size(target, str(args[0]), str(args[1])))
    elif name == "expandtabs":
        tab = int(args[0]) if args and isinstance(args[0], int) else 8
        _within(len(target) + target.count("\t") * max(0, tab))
    elif name == "join" and args and isinstance(args[0], list | tuple):
        _within(len(target) * len(args[0]) + _size(args[0]))


class _Bounds(NodeTransformer):
    """Rewrites a parsed template so that its loops, filters and ``~`` are metered."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = nodes.Filter(node.iter, _LOOP, [], [], None, None)
        return node

    def visit_Filter(self, node: nodes.Filter) -> nodes.Node:
        self.generic_visit(node)
        node.args = [nodes.Filter(arg, _ARGUMENT, [], [], None, None) for arg in node.args]
        for keyword in node.kwargs:
            keyword.value = nodes.Filter(keyword.value, _ARGUMENT, [], [], None, None)
        if node.node is None:  # {% filter %} blocks: their output is metered
            return node
        return nodes.Filter(node, _VALUE, [], [], None, None)

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return nodes.Filter(node, _VALUE, [], [], None, None)


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox with the limits of this module (see its docstring)."""

    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})

    def __init__(self, **options: Any) -> None:
        super().__init__(optimized=False, **options)
        for name in ("lipsum", "cycler", "joiner"):
            self.globals.pop(name, None)
        self.filters[_LOOP] = _loop
        self.filters[_VALUE] = _checked
        self.filters[_ARGUMENT] = _argument
        self.filters["replace"] = _bounded_replace
        self.filters["indent"] = _bounded_indent
        self.filters["wordwrap"] = _bounded_wordwrap
        self.filters["format"] = _bounded_format
        del self.filters["tojson"]  # (its indent multiplies; a message needs no JSON)

    def parse_bounded(self, source: str) -> nodes.Template:
        if len(source) > MAX_SOURCE:
            raise TemplateLimit(f"is longer than {MAX_SOURCE:,} characters")
        tree = self.parse(source)
        bounded = _Bounds().visit(tree)
        assert isinstance(bounded, nodes.Template)
        return bounded

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        _charge()
        if operator_ == "**" and _exponent_too_big(left, right):
            raise TemplateLimit(f"makes a number larger than {MAX_NUMBER:,}")
        if operator_ == "*":
            for seq, times in ((left, right), (right, left)):
                if _size(seq) and isinstance(times, int):
                    _within(_size(seq) * times)
        if operator_ == "+":
            _within(_size(left) + _size(right))
        if operator_ == "%" and isinstance(left, str):
            _percent_format(left)
        return _checked(self.binop_table[operator_](left, right))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _charge(1)
        for value in (*args, *(v for k, v in kwargs.items() if k not in _PLUMBING)):
            _argument(value)
        _precheck_call(__obj, args)
        return _checked(super().call(__context, __obj, *args, **kwargs))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is not None:
            _brace_format(value.__self__)
        return wrapped


def _exponent_too_big(base: Any, exponent: Any) -> bool:
    if not (isinstance(base, int) and isinstance(exponent, int)) or exponent <= 0:
        return False
    return abs(base) > 1 and abs(base).bit_length() * exponent > MAX_NUMBER.bit_length()


ENVIRONMENT = BoundedEnvironment(undefined=StrictUndefined, autoescape=False, trim_blocks=True)


@lru_cache(maxsize=256)
def compiled(source: str) -> Any:
    """The bounded template for ``source`` (TemplateLimit if the source is too long)."""
    return ENVIRONMENT.from_string(ENVIRONMENT.parse_bounded(source))


def render(source: str, values: dict[str, Any], *, seconds: float = RENDER_SECONDS) -> str:
    """``source`` rendered with ``values``, within the limits (else TemplateLimit)."""
    template = compiled(source)
    token = _budget.set(_Budget(time.monotonic() + seconds, seconds))
    try:
        parts: list[str] = []
        length = 0
        for part in template.generate(**values):
            length += len(part)
            if length > MAX_OUTPUT:
                raise TemplateLimit(f"renders more than {MAX_OUTPUT:,} characters")
            _charge()
            parts.append(part)
        return "".join(parts)
    finally:
        _budget.reset(token)
