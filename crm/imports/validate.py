"""Checking an import's rows a column at a time (polars expressions): each row comes out
with its values, typed, or with every reason it is rejected."""

from __future__ import annotations

import datetime as dt
import json
import re
from functools import lru_cache
from zoneinfo import available_timezones

import phonenumbers
import polars as pl

from crm.imports.columns import DATE_FORMATS, ORDER_STATUSES

_EMAIL = r"^[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+$"
_BOOLS = dict.fromkeys(("1", "true", "yes", "y", "t", "on"), True) | dict.fromkeys(
    ("0", "false", "no", "n", "f", "off"), False
)
_ZONES = sorted(available_timezones() | {"UTC"})


def _given(name: str) -> pl.Expr:
    return pl.col(name) != ""


def _when(condition: pl.Expr, template: str, name: str = "") -> pl.Expr:
    """``template`` (its ``{}``: the cell, quoted) where ``condition`` holds, else null."""
    message = pl.format(template, pl.col(name)) if name else pl.lit(template)
    return pl.when(condition).then(message)


def _timestamp(name: str) -> pl.Expr:
    """The cell as a UTC datetime (null if empty or no date): ISO 8601 dates, with a time
    and offset or not (none means UTC), or ``DD.MM.YYYY``, rewritten to one form."""
    text = pl.col(name).str.replace(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$", "$3-$2-$1")
    text = text.str.replace(r"^(\d{4}-\d\d?-\d\d?)$", "$1 00:00:00")
    text = text.str.replace(r"^(\d{4}-\d\d?-\d\d?)T", "$1 ")
    text = text.str.replace(r"^(\S+ \d\d:\d\d)(Z|[+-]|$)", "${1}:00$2")
    text = text.str.replace(r"Z$", "+00:00")
    text = pl.when(text.str.contains(r"[+-]\d\d:\d\d$")).then(text).otherwise(text + "+00:00")
    return text.str.to_datetime("%Y-%m-%d %H:%M:%S%.f%:z", strict=False, time_zone="UTC")


def _not_a_date(name: str, what: str) -> pl.Expr:
    return _when(
        _given(name) & _timestamp(name).is_null(),
        f"{what} '{{}}' is not a date (accepted: {DATE_FORMATS})",
        name,
    )


def _email(name: str) -> tuple[pl.Expr, pl.Expr]:
    lowered = pl.col(name).str.to_lowercase()
    problem = _when(
        _given(name) & ~lowered.str.contains(_EMAIL), "email '{}' is not an email address", name
    )
    return pl.when(_given(name)).then(lowered), problem


def _checked(
    frame: pl.DataFrame, values: dict[str, pl.Expr], problems: list[pl.Expr]
) -> pl.DataFrame:
    """``line``, ``error`` (the fault, or all problems found; null for a good row) and the
    values."""
    found = pl.concat_str(problems, separator="; ", ignore_nulls=True)
    error = pl.when(pl.col("fault").is_not_null()).then("fault").when(found != "").then(found)
    return frame.select("line", error.alias("error"), **values)


def customers(frame: pl.DataFrame, region: str) -> pl.DataFrame:
    """Customers: a column per stored field, null where the row does not give it."""
    phones = _mapped(frame["phone"], lambda cell: _phone(cell, region))
    tags = _mapped(frame["tags"], lambda cell: (_tags(cell), None))
    frame = frame.with_columns(e164=phones[0], phone_problem=phones[1], tag_list=tags[0])
    email, email_problem = _email("email")
    birthday = _timestamp("birthday").dt.date()
    plausible = birthday.is_between(dt.date(1900, 1, 1), dt.date.today())
    consent = pl.col("marketing_consent").str.to_lowercase()
    consent = consent.replace_strict(_BOOLS, default=None, return_dtype=pl.Boolean)
    values = {
        "external_id": pl.when(_given("external_id")).then(pl.col("external_id")),
        "email": email,
        "phone": pl.col("e164"),
        "first_name": pl.when(_given("first_name")).then(pl.col("first_name")),
        "last_name": pl.when(_given("last_name")).then(pl.col("last_name")),
        "birthday": birthday,
        "timezone": pl.when(_given("timezone")).then(pl.col("timezone")),
        "locale": pl.when(_given("locale")).then(pl.col("locale").str.slice(0, 16)),
        "marketing_consent": consent,
        "tags": pl.col("tag_list"),
        "created_at": _timestamp("created_at"),
    }
    problems = [
        _when(
            pl.col("external_id").str.len_chars() > 64, "external id is longer than 64 characters"
        ),
        email_problem,
        pl.col("phone_problem"),
        _when(
            ~(_given("external_id") | _given("email") | _given("phone")),
            "has no external id, email or phone to identify the customer",
        ),
        *(
            _when(
                pl.col(name).str.len_chars() > 100,
                f"{name.replace('_', ' ')} is longer than 100 characters",
            )
            for name in ("first_name", "last_name")
        ),
        _not_a_date("birthday", "birthday"),
        _when(
            birthday.is_not_null() & ~plausible,
            "birthday '{}' is not plausible (1900 to today)",
            "birthday",
        ),
        _when(
            _given("timezone") & ~pl.col("timezone").is_in(_ZONES),
            "time zone '{}' is unknown (e.g. Europe/Berlin)",
            "timezone",
        ),
        _when(
            _given("marketing_consent") & consent.is_null(),
            "consent '{}' is not yes/no",
            "marketing_consent",
        ),
        _not_a_date("created_at", "signup date"),
    ]
    return _checked(frame, values, problems)


def orders(frame: pl.DataFrame) -> pl.DataFrame:
    """Orders: a column per stored field (null where not given: the default or the stored
    value), and the customer as ``customer_external_id`` or ``customer_email``."""
    email, email_problem = _email("customer_email")
    by_id = _given("customer_external_id")
    amount_text = pl.col("total_amount").str.replace_all(r"\s|€|\$|£|EUR|USD|GBP", "")
    amount_ok = amount_text.str.contains(r"^-?\d+(?:[.,]\d{1,4})?$")
    amount = amount_text.str.replace(",", ".", literal=True).cast(pl.Float64, strict=False)
    currency = pl.col("currency").str.to_uppercase()
    status = pl.col("status").str.to_lowercase()
    items = pl.col("items_count").str.to_integer(strict=False)
    values = {
        "external_id": pl.col("external_id"),
        "customer_external_id": pl.when(by_id).then(pl.col("customer_external_id")),
        "customer_email": pl.when(~by_id).then(email),
        "ordered_at": _timestamp("ordered_at"),
        "total_amount": pl.when(amount_ok).then(amount.round(2)),
        "currency": pl.when(_given("currency")).then(currency),
        "status": pl.when(_given("status")).then(status),
        "items_count": items,
        "offer_code": pl.when(_given("offer_code")).then(pl.col("offer_code").str.slice(0, 64)),
    }
    no_amount = ~_given("total_amount")
    problems = [
        _when(~_given("external_id"), "has no order id"),
        _when(pl.col("external_id").str.len_chars() > 64, "order id is longer than 64 characters"),
        _when(~by_id & ~_given("customer_email"), "names no customer (customer id or email)"),
        pl.when(~by_id).then(email_problem),
        _when(~_given("ordered_at"), "has no order date"),
        _not_a_date("ordered_at", "order date"),
        _when(no_amount, "has no amount"),
        _when(~no_amount & ~amount_ok, "amount '{}' is not an amount (e.g. 49.90)", "total_amount"),
        _when(amount_ok & (amount < 0), "amount '{}' is negative", "total_amount"),
        _when(amount_ok & (amount >= 1e10), "amount '{}' is too large", "total_amount"),
        _when(
            _given("currency") & ~currency.str.contains(r"^[A-Z]{3}$"),
            "currency '{}' is not a 3-letter code",
            "currency",
        ),
        _when(
            _given("status") & ~status.is_in(ORDER_STATUSES),
            f"status '{{}}' is not one of {', '.join(ORDER_STATUSES)}",
            "status",
        ),
        _when(
            _given("items_count")
            & ~pl.col("items_count").str.contains(r"^\d{1,5}$").fill_null(False)
            | (items < 1),
            "item count '{}' is not a positive number",
            "items_count",
        ),
    ]
    return _checked(frame, values, problems)


def _mapped(cells: pl.Series, parse: object) -> tuple[pl.Series, pl.Series]:
    """``parse`` (text -> (value, problem)) of each distinct non-empty cell, as columns."""
    results = {cell: parse(cell) for cell in cells.unique().to_list() if cell}  # type: ignore[operator]
    value = cells.replace_strict(
        {k: v for k, (v, _) in results.items()}, default=None, return_dtype=pl.String
    )
    problem = cells.replace_strict(
        {k: p for k, (_, p) in results.items()}, default=None, return_dtype=pl.String
    )
    return value, problem


def _tags(text: str) -> str:
    """Tags, as the JSON the ORM stores: sorted, each once."""
    return json.dumps(sorted({t.strip() for t in re.split(r"[;|]", text) if t.strip()}))


_NOISE = re.compile(r"[\s\-./()]")


@lru_cache(maxsize=2**16)
def _phone(text: str, region: str) -> tuple[str | None, str | None]:
    """(E.164, None), or (None, why not). A number in international form (``+49 30 ...``,
    ``0049 30 ...``) or national form with the region's trunk prefix (``030 ...``) is
    taken apart by its digits and only checked (``is_valid_number``): a third of the
    time of ``phonenumbers.parse``, which reads the other forms."""
    digits = _NOISE.sub("", text)
    meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if meta and digits.startswith("00") and meta.international_prefix == "00":
        digits = "+" + digits[2:]
    elif meta and digits.startswith("0") and _trunk_zero(meta):
        digits = f"+{meta.country_code}{digits[1:]}"
    if digits.startswith("+") and digits[1:].isdigit() and digits[1] != "0":
        for size in (1, 2, 3):
            code = int(digits[1 : 1 + size])
            if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
                national = digits[1 + size :]
                if national[:1] in ("", "0"):  # (an Italian leading zero: parse it)
                    break
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


def _trunk_zero(meta: phonenumbers.PhoneMetadata) -> bool:
    """Whether national numbers of the region start with a plain 0 (as in 030 1234567)."""
    return (
        meta.national_prefix == "0"
        and meta.national_prefix_for_parsing in (None, "0")
        and not meta.national_prefix_transform_rule
    )
