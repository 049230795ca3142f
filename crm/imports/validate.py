"""Checking an import's rows a column at a time (polars expressions): each row comes out
with its values, typed, or with every reason it is rejected."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from functools import lru_cache
from zoneinfo import available_timezones

import phonenumbers
import polars as pl

from crm.imports.columns import DATE_FORMATS, ORDER_STATUSES

_EMAIL = r"^[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+$"
_DATE = r"^(\d{4}-\d\d?-\d\d?([T ]\d\d:\d\d(:\d\d(\.\d{1,6})?)?)?(Z|[+-]\d\d:\d\d)?"
_DATE += r"|\d\d?\.\d\d?\.\d{4})$"
_BOOLS = dict.fromkeys(("1", "true", "yes", "y", "t", "on"), True)
_BOOLS |= dict.fromkeys(("0", "false", "no", "n", "f", "off"), False)
_ZONES = sorted(available_timezones() | {"UTC"})
_UTC = pl.Datetime("us", "UTC")
_ZONE, _NOT_CODE = " (e.g. Europe/Berlin)", "is not a 3-letter code"
Rule = tuple[pl.Expr, str]  # where, what is wrong ("'{name}'": that cell, quoted)


def _given(name: str) -> pl.Expr:
    return pl.col(name) != ""


def _cell(name: str) -> pl.Expr:
    return pl.when(_given(name)).then(pl.col(name))


def _longer(name: str, limit: int) -> Rule:
    return pl.col(name).str.len_chars() > limit, f"{name} is longer than {limit} characters"


def _checked(frame: pl.DataFrame, values: dict[str, pl.Expr], rules: list[Rule]) -> pl.DataFrame:
    """``line``, ``error`` (the reader's fault, or every rule the row breaks, joined; null
    for a good row) and the values."""
    problems = []
    for where, what in rules:
        names = re.findall(r"\{(\w+)\}", what)
        text = re.sub(r"\{\w+\}", "{}", what).replace("_", " ")
        problems.append(pl.when(where).then(pl.format(text, *map(pl.col, names))))
    found = pl.concat_str(problems, separator="; ", ignore_nulls=True)
    error = pl.when(pl.col("fault").is_not_null()).then("fault").when(found != "").then(found)
    return frame.select("line", error.alias("error"), **values)


def _times(cells: pl.Series) -> pl.Series:
    """The cells as UTC datetimes (null: empty, or no date in an accepted form). polars
    reads the form it finds in the column; cells in another accepted form (``DD.MM.YYYY``,
    other offsets) are rewritten to one form and read again."""
    try:
        parsed = cells.str.to_datetime(strict=False, time_zone="UTC")
    except pl.exceptions.PolarsError:  # (no form found)
        parsed = pl.repeat(None, len(cells), dtype=_UTC, eager=True)
    accepted = cells.str.contains(_DATE)
    parsed = pl.select(pl.when(accepted).then(parsed)).to_series()
    again = (parsed.is_null() & accepted).arg_true()
    if not len(again):
        return parsed
    text = cells.gather(again).str.replace(r"^(\d\d?)\.(\d\d?)\.(\d{4})$", "$3-$2-$1")
    text = text.str.replace(r"^(\d{4}-\d\d?-\d\d?)$", "$1 00:00:00").str.replace("T", " ")
    text = text.str.replace(r"^(\S+ \d\d:\d\d)(Z|[+-]|$)", "${1}:00$2").str.replace("Z$", "")
    offset = text.str.contains(r"[+-]\d\d:\d\d$")
    text = pl.select(pl.when(offset).then(text).otherwise(text + "+00:00")).to_series()
    found = text.str.to_datetime("%Y-%m-%d %H:%M:%S%.f%:z", strict=False, time_zone="UTC")
    return parsed.scatter(again, found)


def _refused(name: str, ok: pl.Expr, what: str) -> Rule:
    """A given cell that is not ``ok``: ``what``, its ``{}`` the cell, quoted."""
    return _given(name) & ~ok, what.format(f"'{{{name}}}'")


def _date(name: str, what: str) -> Rule:
    ok = pl.col(f"{name}_at").is_not_null()
    return _refused(name, ok, f"{what} {{}} is not a date (accepted: {DATE_FORMATS})")


def _email(name: str) -> Rule:
    ok = pl.col(name).str.to_lowercase().str.contains(_EMAIL)
    return _refused(name, ok, "email {} is not an email address")


def customers(frame: pl.DataFrame, region: str) -> pl.DataFrame:
    """Customers: a column per stored field, null where the row does not give it."""
    phones = _mapped(frame["phone"], lambda cell: _phone(cell, region))
    tags = _mapped(frame["tags"], lambda cell: (_tags(cell), None))[0]
    stamps = {f"{n}_at": _times(frame[n]) for n in ("birthday", "created_at")}
    frame = frame.with_columns(e164=phones[0], phone_problem=phones[1], tag_list=tags, **stamps)
    birthday = pl.col("birthday_at").dt.date()
    consent = pl.col("marketing_consent").str.to_lowercase()
    consent = consent.replace_strict(_BOOLS, default=None, return_dtype=pl.Boolean)
    values = {name: _cell(name) for name in ("external_id", "first_name", "last_name", "timezone")}
    values |= {
        "email": _cell("email").str.to_lowercase(),
        "phone": pl.col("e164"),
        "birthday": birthday,
        "locale": _cell("locale").str.slice(0, 16),
        "marketing_consent": consent,
        "tags": pl.col("tag_list"),
        "created_at": pl.col("created_at_at"),
    }
    no_key = ~(_given("external_id") | _given("email") | _given("phone"))
    plausible = birthday.is_between(dt.date(1900, 1, 1), dt.date.today())
    rules: list[Rule] = [
        _longer("external_id", 64),
        _email("email"),
        _longer("email", 254),
        (pl.col("phone_problem").is_not_null(), "{phone_problem}"),
        (no_key, "has no external id, email or phone to identify the customer"),
        _longer("first_name", 100),
        _longer("last_name", 100),
        _date("birthday", "birthday"),
        (~plausible, "birthday '{birthday}' is not plausible (1900 to today)"),
        _refused("timezone", pl.col("timezone").is_in(_ZONES), "time zone {} is unknown" + _ZONE),
        _refused("marketing_consent", consent.is_not_null(), "consent {} is not yes/no"),
        _date("created_at", "signup date"),
    ]
    return _checked(frame, values, rules)


def orders(frame: pl.DataFrame) -> pl.DataFrame:
    """Orders: a column per stored field (null where not given: the default or the stored
    value), and the customer as ``customer_external_id`` or ``customer_email``."""
    frame = frame.with_columns(ordered_at_at=_times(frame["ordered_at"]))
    by_id = _given("customer_external_id")
    amount_text = pl.col("total_amount").str.replace_all(r"\s|€|\$|£|EUR|USD|GBP", "")
    amount_ok = amount_text.str.contains(r"^-?\d+(?:[.,]\d{1,4})?$")
    amount = amount_text.str.replace(",", ".", literal=True).cast(pl.Float64, strict=False)
    currency, status = pl.col("currency").str.to_uppercase(), pl.col("status").str.to_lowercase()
    items = pl.col("items_count").str.to_integer(strict=False)
    values = {
        "external_id": pl.col("external_id"),
        "customer_external_id": _cell("customer_external_id"),
        "customer_email": pl.when(~by_id).then(_cell("customer_email").str.to_lowercase()),
        "ordered_at": pl.col("ordered_at_at"),
        "total_amount": pl.when(amount_ok).then(amount.round(2)),
        "currency": _cell("currency").str.to_uppercase(),
        "status": _cell("status").str.to_lowercase(),
        "items_count": items,
        "offer_code": _cell("offer_code").str.slice(0, 64),
    }
    items_ok = pl.col("items_count").str.contains(r"^\d{1,5}$") & (items > 0)
    email_bad, email_what = _email("customer_email")
    statuses = "status {} is not one of " + ", ".join(ORDER_STATUSES)
    rules: list[Rule] = [
        (~_given("external_id"), "has no order id"),
        (pl.col("external_id").str.len_chars() > 64, "order id is longer than 64 characters"),
        (~by_id & ~_given("customer_email"), "names no customer (customer id or email)"),
        (~by_id & email_bad, email_what),
        (~_given("ordered_at"), "has no order date"),
        _date("ordered_at", "order date"),
        (~_given("total_amount"), "has no amount"),
        _refused("total_amount", amount_ok, "amount {} is not an amount (e.g. 49.90)"),
        (amount_ok & (amount < 0), "amount '{total_amount}' is negative"),
        (amount_ok & (amount >= 1e10), "amount '{total_amount}' is too large"),
        _refused("currency", currency.str.contains("^[A-Z]{3}$"), "currency {} " + _NOT_CODE),
        _refused("status", status.is_in(ORDER_STATUSES), statuses),
        _refused("items_count", items_ok, "item count {} is not a positive number"),
    ]
    return _checked(frame, values, rules)


def _mapped(
    cells: pl.Series, parse: Callable[[str], tuple[str | None, str | None]]
) -> tuple[pl.Series, pl.Series]:
    """``parse`` (text -> (value, problem)) of each distinct non-empty cell, as columns."""
    found = {cell: parse(cell) for cell in cells.unique().to_list() if cell}
    value, problem = ({k: r[i] for k, r in found.items()} for i in (0, 1))
    return tuple(  # type: ignore[return-value]
        cells.replace_strict(m, default=None, return_dtype=pl.String) for m in (value, problem)
    )


def _tags(text: str) -> str:
    """Tags, as the JSON the ORM stores: sorted, each once."""
    return json.dumps(sorted({t.strip() for t in re.split(r"[;|]", text) if t.strip()}))


_NOISE = re.compile(r"[\s\-./()]")


@lru_cache(maxsize=2**16)
def _phone(text: str, region: str) -> tuple[str | None, str | None]:
    """(E.164, None), or (None, why not). International (``+49 30 …``, ``0049 30 …``) and
    national numbers (``030 …``) are only checked (``is_valid_number``), not parsed: the
    parse was two thirds of a number's time (52 against 17 microseconds, same run)."""
    digits = _NOISE.sub("", text)
    meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if meta and digits.startswith("00") and meta.international_prefix == "00":
        digits = "+" + digits[2:]
    elif (
        meta
        and digits.startswith("0")
        and meta.national_prefix == "0"
        and not (
            meta.national_prefix_transform_rule
            or meta.national_prefix_for_parsing not in (None, "0")
        )
    ):
        digits = f"+{meta.country_code}{digits[1:]}"
    international = digits[:1] == "+" and digits[1:].isdigit() and digits[1:2] != "0"
    for size in (1, 2, 3) if international else ():
        code, national = int(digits[1 : 1 + size]), digits[1 + size :]
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE and national[:1] not in ("", "0"):
            number = phonenumbers.PhoneNumber(country_code=code, national_number=int(national))
            if phonenumbers.is_valid_number(number):
                return digits, None
            return None, f"phone '{text}' is not a valid number"
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None, f"phone '{text}' is not a phone number"
    if not phonenumbers.is_valid_number(number):
        return None, f"phone '{text}' is not a valid number"
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), None
