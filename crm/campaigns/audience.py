"""Audience rules: conditions on scores, orders, satisfaction, birthdays, tags, channel and
consent, combined with AND (``all``) and OR (``any``), compiled into one SQL query.

A rule set is JSON, e.g.::

    {"all": [
        {"field": "churn_risk", "op": "in", "value": ["high"]},
        {"any": [
            {"field": "segment", "op": "in", "value": ["At risk", "Can't lose"]},
            {"field": "clv", "op": "gte", "value": 200}
        ]},
        {"field": "marketing_consent", "op": "eq", "value": true}
    ]}

``{}`` (or ``{"all": []}``) is every customer. Rules are checked when a campaign is saved;
a bad rule is refused with the path of the offending condition.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    exists,
    false,
    func,
    literal_column,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session

from careloop.errors import ValidationFailed
from crm.db import utcnow
from crm.models import ChannelIdentity, ChurnRisk, Customer, Order, OrderStatus
from crm.models.customer import Channel
from crm.scoring.rfm import SEGMENT_NAMES

NUMERIC_OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "between")
SET_OPS = ("in", "not_in")
MAX_DEPTH = 5
MAX_CONDITIONS = 100


@dataclass(frozen=True)
class Field:
    kind: str  # "number", "choice", "bool", "birthday", "tags", "channel"
    description: str
    choices: tuple[str, ...] = ()

    @property
    def ops(self) -> tuple[str, ...]:
        return {
            "number": NUMERIC_OPS,
            "choice": SET_OPS,
            "bool": ("eq",),
            "birthday": ("eq",),
            "tags": ("contains_any", "contains_all", "contains_none"),
            "channel": ("eq",),
        }[self.kind]


FIELDS: dict[str, Field] = {
    "segment": Field("choice", "RFM segment", (*SEGMENT_NAMES, "No orders")),
    "churn_risk": Field("choice", "churn risk level", tuple(r.value for r in ChurnRisk)),
    "churn_probability": Field("number", "churn probability, 0 to 1"),
    "clv": Field("number", "predicted lifetime value"),
    "days_since_last_order": Field("number", "whole days since the last order"),
    "order_count": Field("number", "orders placed (not cancelled)"),
    "total_spend": Field("number", "total spent on orders (not cancelled)"),
    "csat_last": Field("number", "last CSAT score, 1 to 5"),
    "csat_avg": Field("number", "average CSAT score"),
    "nps_last": Field("number", "last NPS score, 0 to 10"),
    "nps_category": Field("choice", "NPS category", ("promoter", "passive", "detractor")),
    "birthday": Field("birthday", "birthday today or within the next 7 days (UTC date)"),
    "tags": Field("tags", "customer tags"),
    "channel": Field("channel", "reachable on this channel", tuple(c.value for c in Channel)),
    "marketing_consent": Field("bool", "gave marketing consent and has not opted out"),
}


def validate(rules: Any) -> dict[str, Any]:
    """The rule set, checked; raises :class:`ValidationFailed` naming the bad part."""
    if rules is None or rules == {}:
        return {"all": []}
    if not isinstance(rules, dict):
        raise ValidationFailed('audience: expected an object like {"all": [...]}')
    count = [0]
    _check(rules, "audience", 0, count)
    return rules if ("all" in rules or "any" in rules) else {"all": [rules]}


def _check(node: Any, path: str, depth: int, count: list[int]) -> None:
    if not isinstance(node, dict):
        raise ValidationFailed(f"{path}: expected an object")
    if depth > MAX_DEPTH:
        raise ValidationFailed(f"{path}: nested deeper than {MAX_DEPTH} levels")
    groups = [k for k in ("all", "any") if k in node]
    if groups:
        if len(node) != 1:
            raise ValidationFailed(f'{path}: a group has exactly one key, "all" or "any"')
        children = node[groups[0]]
        if not isinstance(children, list):
            raise ValidationFailed(f"{path}.{groups[0]}: expected a list of conditions")
        for i, child in enumerate(children):
            _check(child, f"{path}.{groups[0]}[{i}]", depth + 1, count)
        return
    count[0] += 1
    if count[0] > MAX_CONDITIONS:
        raise ValidationFailed(f"audience: more than {MAX_CONDITIONS} conditions")
    name, op, value = node.get("field"), node.get("op"), node.get("value")
    if set(node) - {"field", "op", "value"}:
        extra = ", ".join(sorted(set(node) - {"field", "op", "value"}))
        raise ValidationFailed(f"{path}: unknown keys {extra}")
    if name not in FIELDS:
        raise ValidationFailed(f"{path}: unknown field {name!r}; one of {', '.join(FIELDS)}")
    field = FIELDS[name]
    if op not in field.ops:
        raise ValidationFailed(f"{path}: {name} takes the operators {', '.join(field.ops)}")
    where = f"{path} ({name} {op})"
    if field.kind == "number":
        if op == "between":
            ok = (
                isinstance(value, list)
                and len(value) == 2
                and all(_is_number(v) for v in value)
                and value[0] <= value[1]
            )
            if not ok:
                raise ValidationFailed(f"{where}: expected [low, high] numbers, low <= high")
        elif not _is_number(value):
            raise ValidationFailed(f"{where}: expected a number")
    elif field.kind in ("choice", "tags"):
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise ValidationFailed(f"{where}: expected a non-empty list of strings")
        if field.choices:
            unknown = [v for v in value if v not in field.choices]
            if unknown:
                raise ValidationFailed(
                    f"{where}: unknown value(s) {', '.join(unknown)}; "
                    f"one of {', '.join(field.choices)}"
                )
    elif field.kind == "bool":
        if not isinstance(value, bool):
            raise ValidationFailed(f"{where}: expected true or false")
    elif field.kind == "birthday":
        if value not in ("today", "this_week"):
            raise ValidationFailed(f'{where}: expected "today" or "this_week"')
    elif field.kind == "channel" and value not in field.choices:
        raise ValidationFailed(f"{where}: expected one of {', '.join(field.choices)}")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


# -- compiling ----------------------------------------------------------------------------


class _Compiler:
    def __init__(self, session: Session, now: dt.datetime) -> None:
        self.dialect = session.get_bind().dialect.name
        self.now = now
        self.uses_orders = False
        self.orders = (
            select(
                Order.customer_id.label("customer_id"),
                func.count().label("order_count"),
                func.sum(Order.total_amount).label("total_spend"),
                func.max(Order.ordered_at).label("last_order_at"),
            )
            .where(Order.status != OrderStatus.cancelled, Order.ordered_at <= now)
            .group_by(Order.customer_id)
            .subquery("order_stats")
        )

    def node(self, node: dict[str, Any]) -> ColumnElement[bool]:
        if "all" in node:
            parts = [self.node(child) for child in node["all"]]
            return and_(true(), *parts) if parts else true()
        if "any" in node:
            parts = [self.node(child) for child in node["any"]]
            return or_(false(), *parts) if parts else false()
        return self.condition(node["field"], node["op"], node["value"])

    def condition(self, name: str, op: str, value: Any) -> ColumnElement[bool]:
        simple: dict[str, Any] = {
            "churn_probability": Customer.churn_probability,
            "clv": Customer.clv,
            "csat_last": Customer.csat_last,
            "csat_avg": Customer.csat_avg,
            "nps_last": Customer.nps_last,
        }
        if name in simple:
            return _numeric(simple[name], op, value)
        if name == "segment":
            values = [v for v in value if v != "No orders"]
            parts: list[ColumnElement[bool]] = [Customer.rfm_segment.in_(values)]
            if "No orders" in value:
                parts.append(Customer.rfm_segment.is_(None))
            matched = or_(*parts)
            return matched if op == "in" else ~matched
        if name == "churn_risk":
            matched = Customer.churn_risk.in_([ChurnRisk(v) for v in value])
            return matched if op == "in" else or_(~matched, Customer.churn_risk.is_(None))
        if name == "nps_category":
            matched = Customer.nps_category.in_(value)
            return matched if op == "in" else or_(~matched, Customer.nps_category.is_(None))
        if name == "marketing_consent":
            consenting = and_(Customer.marketing_consent.is_(True), Customer.opted_out_at.is_(None))
            return consenting if value else ~consenting
        if name == "channel":
            return exists().where(
                ChannelIdentity.customer_id == Customer.id,
                ChannelIdentity.channel == Channel(value),
                ChannelIdentity.reachable.is_(True),
            )
        if name == "birthday":
            return self.birthday(value)
        if name == "tags":
            return self.tags(op, value)
        return self.order_condition(name, op, value)

    def order_condition(self, name: str, op: str, value: Any) -> ColumnElement[bool]:
        self.uses_orders = True
        stats = self.orders.c
        if name == "order_count":
            return _numeric(func.coalesce(stats.order_count, 0), op, value)
        if name == "total_spend":
            return _numeric(func.coalesce(stats.total_spend, 0), op, value)
        # days_since_last_order: whole days; customers without orders never match.
        low, high = _bounds(op, value)
        parts: list[ColumnElement[bool]] = [stats.last_order_at.is_not(None)]
        day = dt.timedelta(days=1)
        if op == "ne":
            n = int(value)
            return and_(
                stats.last_order_at.is_not(None),
                or_(
                    stats.last_order_at > self.now - n * day,
                    stats.last_order_at <= self.now - (n + 1) * day,
                ),
            )
        if low is not None:  # days >= low  <=>  last order at or before now - low days
            parts.append(stats.last_order_at <= self.now - math.ceil(low) * day)
        if high is not None:  # days <= high  <=>  last order after now - (high + 1) days
            parts.append(stats.last_order_at > self.now - (math.floor(high) + 1) * day)
        return and_(*parts)

    def birthday(self, when: str) -> ColumnElement[bool]:
        today = self.now.date()
        days = 1 if when == "today" else 7
        dates = [today + dt.timedelta(days=i) for i in range(days)]
        keys = {d.strftime("%m-%d") for d in dates}
        leap = (today.year % 4 == 0 and today.year % 100 != 0) or today.year % 400 == 0
        if "02-28" in keys and not leap:
            keys.add("02-29")  # leap-day birthdays are celebrated on 28 February
        if self.dialect == "postgresql":
            month_day = func.to_char(Customer.birthday, "MM-DD")
        else:
            month_day = func.strftime("%m-%d", Customer.birthday)
        return and_(Customer.birthday.is_not(None), month_day.in_(sorted(keys)))

    def tags(self, op: str, value: list[str]) -> ColumnElement[bool]:
        def has(tag_values: list[str]) -> ColumnElement[bool]:
            if self.dialect == "postgresql":
                elements = func.json_array_elements_text(Customer.tags).table_valued("value")
            else:
                elements = func.json_each(Customer.tags).table_valued("value")
            return exists(select(literal_column("1")).select_from(elements)).where(
                elements.c.value.in_(tag_values)
            )

        if op == "contains_any":
            return has(value)
        if op == "contains_none":
            return ~has(value)
        return and_(*[has([tag]) for tag in value])


def _bounds(op: str, value: Any) -> tuple[float | None, float | None]:
    if op == "between":
        return float(value[0]), float(value[1])
    v = float(value)
    return {
        "eq": (v, v),
        "gte": (v, None),
        "gt": (math.floor(v) + 1, None),
        "lte": (None, v),
        "lt": (None, math.ceil(v) - 1),
    }.get(op, (None, None))


def _numeric(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    ops: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
        "eq": lambda c, v: c == v,
        "ne": lambda c, v: c != v,
        "gt": lambda c, v: c > v,
        "gte": lambda c, v: c >= v,
        "lt": lambda c, v: c < v,
        "lte": lambda c, v: c <= v,
        "between": lambda c, v: c.between(v[0], v[1]),
    }
    return ops[op](column, value)


def audience_query(
    session: Session, rules: dict[str, Any] | None, *, now: dt.datetime | None = None
) -> Select[int]:
    """``SELECT customers.id`` of everyone matching ``rules`` (validated first)."""
    compiler = _Compiler(session, now or utcnow())
    condition = compiler.node(validate(rules))
    query: Select[int] = select(Customer.id)
    if compiler.uses_orders:
        query = query.outerjoin(compiler.orders, compiler.orders.c.customer_id == Customer.id)
    return query.where(condition)


def members(session: Session, rules: dict[str, Any] | None, **kw: Any) -> list[int]:
    """Ids of the matching customers, ascending."""
    return list(session.scalars(audience_query(session, rules, **kw).order_by(Customer.id)))


def preview(
    session: Session,
    rules: dict[str, Any] | None,
    *,
    sample: int = 10,
    masked: bool = True,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Audience size and a sample of members (contacts masked for marketers)."""
    from crm.customers.privacy import mask_email

    query = audience_query(session, rules, now=now)
    size = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    ids = list(session.scalars(query.order_by(Customer.id).limit(sample)))
    customers = session.scalars(select(Customer).where(Customer.id.in_(ids)).order_by(Customer.id))
    return {
        "size": int(size),
        "sample": [
            {
                "id": c.id,
                "name": c.display_name if not masked else (c.first_name or f"#{c.id}"),
                "email": mask_email(c.email) if masked else c.email,
                "segment": c.rfm_segment,
                "clv": str(c.clv) if c.clv is not None else None,
                "churn_risk": c.churn_risk.value if c.churn_risk else None,
            }
            for c in customers
        ],
    }
