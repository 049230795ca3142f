"""CSV import of customers and orders: streaming, validated, de-duplicated, idempotent.

* The file is read as a stream in batches (constant memory, whatever its size); each batch
  is looked up, merged and written in one transaction, with bulk statements.
* Columns are found by header name (case, spaces and dashes do not matter) through the
  aliases in ``CUSTOMER_COLUMNS`` / ``ORDER_COLUMNS``; unknown columns are reported and
  ignored. A file without any identifying column is refused before anything is written.
* Every row is validated completely before anything of it is written, so a bad row is
  rejected whole (line number and reason in the report) and never aborts the file.
* Customers are matched by external id, then normalised email, then E.164 phone; a match by
  email or phone, or a second row for the same customer, is a *merge*. Orders are matched by
  their external id. Importing the same file again changes nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import fcntl
import io
import itertools
import json
import logging
import operator
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, closing, nullcontext
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple, cast

import phonenumbers
from sqlalchemy import Dialect, Table, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from careloop.errors import ValidationFailed
from careloop.text import NUL
from crm.db import (
    READ_ONLY,
    CellForm,
    PreparedInsert,
    among,
    as_utc,
    bulk_insert,
    create_db_engine,
    create_session_factory,
    decimal_values,
    in_memory,
    prepare_insert,
    utc_texts,
    utcnow,
)
from crm.helpers import Helper, read_database_url
from crm.imports.columns import (
    CUSTOMER_COLUMNS,
    CUSTOMER_KEYS,
    DATE_FORMATS,
    DELIMITERS,
    ORDER_COLUMNS,
    delimiter_name,
)
from crm.models import Customer, Order, OrderStatus

log = logging.getLogger(__name__)

# Rows per batch (one transaction each). A commit writes every index page its batch
# touched: customers' keys (ids, emails) land all over their indexes, and a bigger batch
# touches each page for more rows; orders measure faster in smaller batches.
BATCH_ROWS = {"customers": 10_000, "orders": 2000}
CUSTOMERS = cast(Table, Customer.__table__)
ORDERS = cast(Table, Order.__table__)
# Every inserted row carries every column the import may set (bulk inserts need one shape).
NEW_CUSTOMER: dict[str, Any] = {
    "external_id": None,
    "first_name": None,
    "last_name": None,
    "email": None,
    "phone": None,
    "birthday": None,
    "timezone": "UTC",
    "locale": "en",
    "tags": [],
    "attributes": {},
    "marketing_consent": False,
}
NEW_ORDER: dict[str, Any] = {
    "currency": "EUR",
    "status": OrderStatus.delivered,
    "items_count": 1,
    "offer_code": None,
}
MAX_REPORTED_REJECTIONS = 1000

_DOTTED_DATE = re.compile(r"\d{1,2}\.\d{1,2}\.\d{4}")
_EMAIL = re.compile(r"[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+")
_AMOUNT = re.compile(r"-?\d+(?:[.,]\d{1,4})?")
_PLAIN_AMOUNT = re.compile(r"\d{1,10}(?:\.\d{1,4})?")
_MAX_AMOUNT = Decimal("10000000000")
_CENT = Decimal("0.01")
_TRUE = {"1", "true", "yes", "y", "t", "on"}
_FALSE = {"0", "false", "no", "n", "f", "off", ""}


class RowError(ValueError):
    """One field of one row is invalid; the message says which and why."""


@dataclass
class ImportReport:
    kind: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    merged: int = 0
    rejected_count: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)
    ignored_columns: list[str] = field(default_factory=list)
    # Each merged row's line and what it was merged into (the first ones, like rejections).
    merges: list[tuple[int, str]] = field(default_factory=list)
    blank_lines: int = 0  # skipped, not counted in ``rows``
    delimiter: str = ","

    @property
    def accepted(self) -> int:
        return self.created + self.updated + self.unchanged

    def reject(self, line: int, reason: str) -> None:
        self.rejected_count += 1
        if len(self.rejected) < MAX_REPORTED_REJECTIONS:
            self.rejected.append((line, reason))

    def merge(self, line: int, into: str) -> None:
        """The row on ``line`` was merged ``into`` a customer or order (words for it)."""
        self.merged += 1
        if len(self.merges) < MAX_REPORTED_REJECTIONS:
            self.merges.append((line, into))

    def add(self, other: ImportReport) -> None:
        """Count ``other`` (the report of another part of the same file) in."""
        self.rows += other.rows
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.merged += other.merged
        self.rejected_count += other.rejected_count
        self.blank_lines += other.blank_lines
        self.rejected = sorted(self.rejected + other.rejected)[:MAX_REPORTED_REJECTIONS]
        self.merges = sorted(self.merges + other.merges)[:MAX_REPORTED_REJECTIONS]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImportReport:
        return cls(
            kind=data["kind"],
            rows=data["rows"],
            created=data["created"],
            updated=data["updated"],
            unchanged=data["unchanged"],
            merged=data["merged"],
            rejected_count=data["rejected"],
            rejected=[(r["line"], r["reason"]) for r in data["rejections"]],
            columns=data["columns"],
            ignored_columns=data["ignored_columns"],
            merges=[(m["line"], m["into"]) for m in data["merges"]],
            blank_lines=data["blank_lines"],
            delimiter=data["delimiter"],
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "rows": self.rows,
            "accepted": self.accepted,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "merged": self.merged,
            "rejected": self.rejected_count,
            "rejections": [{"line": line, "reason": reason} for line, reason in self.rejected],
            "merges": [{"line": line, "into": into} for line, into in self.merges],
            "blank_lines": self.blank_lines,
            "delimiter": self.delimiter,
            "columns": self.columns,
            "ignored_columns": self.ignored_columns,
        }


# -- parsing fields ----------------------------------------------------------------------


def normalise_header(name: str) -> str:
    return re.sub(r"[\s\-.]+", "_", name.strip().lower()).strip("_")


def normalise_email(value: str) -> str:
    email = value.strip().lower()
    if not _EMAIL.fullmatch(email):
        raise RowError(f"email {value.strip()!r} is not an email address")
    return email


def normalise_phone(value: str, region: str) -> str:
    """E.164 (``+4915112345678``); numbers without a country code are read in ``region``."""
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        raise RowError(f"phone {value.strip()!r} is not a phone number") from exc
    if not phonenumbers.is_valid_number(number):
        raise RowError(f"phone {value.strip()!r} is not a valid number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def parse_datetime(value: str, what: str) -> dt.datetime:
    """ISO 8601 (date, or date and time, with or without offset) or ``DD.MM.YYYY``;
    times without an offset are UTC."""
    text = value.strip()
    try:
        parsed = dt.datetime.fromisoformat(text)  # the common case, and the fastest test
    except ValueError:
        try:
            if not _DOTTED_DATE.fullmatch(text):
                raise
            parsed = dt.datetime.strptime(text, "%d.%m.%Y")
        except ValueError as exc:
            raise RowError(f"{what} {text!r} is not a date (accepted: {DATE_FORMATS})") from exc
    return as_utc(parsed)


def parse_amount(value: str, what: str = "amount") -> Decimal:
    if _PLAIN_AMOUNT.fullmatch(value):  # the common case: 49.90
        amount = Decimal(value)
        if amount < _MAX_AMOUNT:
            return amount.quantize(_CENT)
    text = value.strip().replace(" ", "")
    for symbol in ("€", "$", "£", "EUR", "USD", "GBP"):
        text = text.replace(symbol, "")
    if not _AMOUNT.fullmatch(text):
        raise RowError(f"{what} {value.strip()!r} is not an amount (e.g. 49.90)")
    try:
        amount = Decimal(text.replace(",", "."))
    except InvalidOperation as exc:  # pragma: no cover - the pattern rules this out
        raise RowError(f"{what} {value.strip()!r} is not an amount") from exc
    if amount < 0:
        raise RowError(f"{what} {value.strip()!r} is negative")
    if amount >= _MAX_AMOUNT:
        raise RowError(f"{what} {value.strip()!r} is too large")
    return amount.quantize(_CENT)


def parse_bool(value: str, what: str) -> bool:
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise RowError(f"{what} {value.strip()!r} is not yes/no")


_FAST_ID = CellForm(r"\S(?:.{0,62}\S)?")
_FAST_DATE = CellForm(
    r"\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d(?:\.\d{1,6})?)?)?(?:Z|[+-]\d\d:\d\d)?"
)


# -- reading the file ------------------------------------------------------------------


class _Counting(io.RawIOBase):
    """Counts the bytes read from ``raw`` (for the progress bar)."""

    def __init__(self, raw: BinaryIO, progress: Callable[[int], None] | None) -> None:
        self.raw = raw
        self.progress = progress

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        if self.progress and n:
            self.progress(n)
        return n


class _Read(NamedTuple):
    """A batch of rows as read: each row's cells, the line it starts on, and whether all
    its text is known to be valid UTF-8 (else the caller checks each row); ``blank``: how
    many blank rows among them were left out."""

    lines: list[int]
    rows: list[list[str]]
    storable: bool  # valid UTF-8 without a NUL (nearly always: the column-wise checks)
    blank: int = 0


def sniff_delimiter(header_line: str) -> str:
    """The delimiter of a file with this header line: of comma, semicolon, tab and pipe,
    the one that splits it into the most columns (quotes respected); a comma on a tie
    (a single column). (``csv.Sniffer`` prefers a comma whenever one line has one, as in
    ``id;amount (EUR, gross)``.)"""
    best, most = ",", 1
    for delimiter in DELIMITERS:
        try:
            columns = len(next(csv.reader([header_line], delimiter=delimiter), []))
        except csv.Error:
            continue
        if columns > most:
            best, most = delimiter, columns
    return best


def file_delimiter(path: Path) -> str:
    """The delimiter of the CSV file at ``path``, from its first line."""
    with path.open("rb") as raw:
        first = raw.readline(1024**2)
    return sniff_delimiter(first.decode("utf-8-sig", errors="replace"))


def _read(
    raw: BinaryIO,
    progress: Callable[[int], None] | None,
    size: int,
    line_offset: int = 0,
    delimiter: str | None = None,
) -> tuple[list[str], str, Iterator[_Read]]:
    """The header, the delimiter (``delimiter``, or found from the header line), and the
    rows in batches of ``size`` with the line each starts on (``line_offset`` is added: a
    part of a file read after its header line). Blank rows are left out (and counted); a
    record the CSV reader refuses becomes the row ``["\\0" + reason]``."""
    text = io.TextIOWrapper(
        io.BufferedReader(_Counting(raw, progress)),
        encoding="utf-8-sig",
        errors="surrogateescape",
        newline="",
    )
    first = text.readline()
    if not first:
        raise ValidationFailed("the file is empty (a header row is needed)")
    if delimiter is None:
        delimiter = sniff_delimiter(first)
    elif delimiter not in DELIMITERS:
        raise ValidationFailed(
            f"the delimiter {delimiter!r} is not one of comma, semicolon, tab or pipe"
        )
    reader = csv.reader(itertools.chain([first], text), delimiter=delimiter)
    try:
        header = next(reader)
    except csv.Error as exc:
        raise ValidationFailed(f"line 1: {exc}") from None

    header_lines = reader.line_num
    limit = csv.field_size_limit()

    def reads() -> Iterator[_Read]:
        source: Iterator[str] = text  # the lines not read yet
        consumed = 0  # lines read after the header
        while True:
            start = line_offset + header_lines + consumed + 1  # where the next record starts
            block = list(itertools.islice(source, size))
            joined = "".join(block)
            if '"' not in joined and "\0" not in joined and max(map(len, block), default=0) < limit:
                # No quotes, NULs or overlong fields: the CSV reader would make the same
                # cells of each line, at four times the cost of splitting it.
                rows = [line.rstrip("\r\n").split(delimiter) for line in block]
                if not rows:
                    return
                consumed += len(block)
                lines = list(range(start, start + len(rows)))
            else:
                rest = itertools.chain(block, source)  # (a quoted cell may go on past the block)
                records = csv.reader(rest, delimiter=delimiter)
                rows = []
                refused = None
                try:
                    rows.extend(itertools.islice(records, size))  # (keeps rows before an error)
                except csv.Error as exc:
                    refused = exc
                source, consumed = rest, consumed + records.line_num
                if not rows and refused is None:
                    return
                lines = list(itertools.accumulate(map(_extra_lines, rows), initial=start))
                after = lines.pop()  # where the record after these starts: a refused one
                if refused is not None:
                    lines.append(after)
                    rows.append([f"\0{refused}"])
            texts = list(map("".join, rows))
            blank = 0
            if not all(texts) or any(map(str.isspace, texts)):  # blank rows: left out
                keep = [bool(t) and not t.isspace() for t in texts]
                blank = keep.count(False)
                lines = list(itertools.compress(lines, keep))
                rows = list(itertools.compress(rows, keep))
                texts = list(itertools.compress(texts, keep))
            yield _Read(lines, rows, _storable("".join(texts)), blank)

    return header, delimiter, reads()


def _extra_lines(row: list[str]) -> int:
    """How many lines the record of ``row`` takes (a quoted cell may hold line breaks,
    counted as the CSV reader counts them: \\r\\n, \\r or \\n)."""
    joined = "".join(row)
    return 1 + joined.count("\r") + joined.count("\n") - joined.count("\r\n")


def _mapping(
    header: list[str], columns: dict[str, tuple[str, ...]], report: ImportReport
) -> dict[str, int]:
    names = [normalise_header(h) for h in header]
    found: dict[str, int] = {}
    for target, aliases in columns.items():
        for alias in aliases:
            if alias in names and names.index(alias) not in found.values():
                found[target] = names.index(alias)
                report.columns[target] = header[names.index(alias)].strip()
                break
    report.ignored_columns = [h for i, h in enumerate(header) if i not in found.values()]
    return found


def _cells(
    row: list[str], mapping: dict[str, int], width: int, check_utf8: bool = True
) -> dict[str, str]:
    if len(row) == 1 and row[0].startswith("\0"):
        raise RowError(f"the CSV is malformed here ({row[0][1:]})")
    if len(row) != width:
        raise RowError(f"has {len(row)} fields, the header has {width}")
    cells = {target: row[index].strip() for target, index in mapping.items()}
    if check_utf8 and not _utf8("".join(cells.values())):
        raise RowError("is not valid UTF-8 (save the file as UTF-8)")
    if any(NUL in cell for cell in cells.values()):  # PostgreSQL stores no NUL in text
        raise RowError("contains a NUL character (\\0), which cannot be stored")
    return cells


def _storable(text: str) -> bool:
    """Valid UTF-8 without a NUL: the batch may take the column-wise checks."""
    return NUL not in text and _utf8(text)


def _utf8(text: str) -> bool:
    """False when ``text`` holds bytes that were not UTF-8 (kept as surrogates)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# -- customers -------------------------------------------------------------------------


class _Problems:
    """The errors found in one row so far: each field is checked, so that a rejected row
    names all that is wrong with it, not only the first thing."""

    def __init__(self) -> None:
        self.found: list[str] = []

    def add(self, message: str) -> None:
        self.found.append(message)

    def parse(self, parse: Callable[..., Any], *args: Any) -> Any:
        """``parse(*args)``, or None with its error noted."""
        try:
            return parse(*args)
        except RowError as exc:
            self.found.append(str(exc))
            return None

    def check(self) -> None:
        if self.found:
            raise RowError("; ".join(self.found))


def _customer_record(cells: dict[str, str], region: str) -> dict[str, Any]:
    record: dict[str, Any] = {}
    problems = _Problems()
    if cells.get("external_id"):
        if len(cells["external_id"]) > 64:
            problems.add("external id is longer than 64 characters")
        else:
            record["external_id"] = cells["external_id"]
    if cells.get("email"):
        record["email"] = problems.parse(normalise_email, cells["email"])
    if cells.get("phone"):
        record["phone"] = problems.parse(normalise_phone, cells["phone"], region)
    if not any(cells.get(key) for key in CUSTOMER_KEYS):
        problems.add("has no external id, email or phone to identify the customer")
    for name in ("first_name", "last_name"):
        if cells.get(name):
            if len(cells[name]) > 100:
                problems.add(f"{name.replace('_', ' ')} is longer than 100 characters")
            else:
                record[name] = cells[name]
    if cells.get("birthday"):
        birthday = problems.parse(parse_datetime, cells["birthday"], "birthday")
        if birthday is not None and not _plausible(birthday.date()):
            problems.add(f"birthday {cells['birthday']!r} is not plausible (1900 to today)")
        elif birthday is not None:
            record["birthday"] = birthday.date()
    if cells.get("timezone"):
        if _known_zone(cells["timezone"]):
            record["timezone"] = cells["timezone"]
        else:
            problems.add(f"time zone {cells['timezone']!r} is unknown (e.g. Europe/Berlin)")
    if cells.get("locale"):
        record["locale"] = cells["locale"][:16]
    if "marketing_consent" in cells and cells["marketing_consent"] != "":
        record["marketing_consent"] = problems.parse(
            parse_bool, cells["marketing_consent"], "consent"
        )
    if cells.get("tags"):
        record["tags"] = _tags(cells["tags"])
    if cells.get("created_at"):
        record["created_at"] = problems.parse(parse_datetime, cells["created_at"], "signup date")
    problems.check()
    return record


_FAST_NAME = CellForm(r"\S(?:.{0,98}\S)?")
_FAST_DAY = CellForm(r"\d{4}-\d\d-\d\d")
_FAST_EMAIL = CellForm(_EMAIL.pattern)
_BOOLS = {value: True for value in _TRUE} | {value: False for value in _FALSE if value}
_ZONES: dict[str, bool] = {}


def _customer_rows(
    read: _Read,
    mapping: dict[str, int],
    width: int,
    region: str,
    report: ImportReport,
    dialect: Dialect,
) -> _Batch:
    """The batch's rows as customers (or rejections), in file order: the forms nearly
    every file uses are checked a column at a time; other rows (a phone number, a dotted
    date, a padded cell, a bad value) go through ``_customer_record``."""
    table = _Columns(read, mapping, width)
    ids = table.take("external_id", _FAST_ID, optional=True)
    emails = table.lowered("email", _FAST_EMAIL, optional=True)
    table.take("phone", _never, optional=True)  # phones: always the row parser
    if not (all(ids) or all(emails)):
        # A row with neither an id nor an email: the row parser words why (or reads a phone).
        table.clean = [
            ok and bool(i or e) for ok, i, e in zip(table.clean, ids, emails, strict=True)
        ]
    values: dict[str, list[Any]] = {"external_id": _or_none(ids), "email": _or_none(emails)}
    for name in ("first_name", "last_name"):
        values[name] = _or_none(table.take(name, _FAST_NAME, optional=True))
    values["birthday"] = table.parse("birthday", _FAST_DAY, _fast_birthday)
    values["timezone"] = _or_none(table.take("timezone", _known_zone, optional=True))
    locales = table.take("locale", _FAST_ID, optional=True)
    values["locale"] = _or_none([locale[:16] for locale in locales] if any(locales) else locales)
    consents = table.lowered("marketing_consent", _BOOLS.__contains__, optional=True)
    values["marketing_consent"] = list(map(_BOOLS.get, consents))  # ("" is not in _BOOLS)
    tags = table.take("tags", bool, True)
    values["tags"] = [_tags(t) if t else None for t in tags] if any(tags) else _or_none(tags)
    stamps = table.take("created_at", _FAST_DATE, optional=True)
    texts = utc_texts(dialect, stamps) if all(table.clean) else None
    values["created_at"] = texts if texts is not None else table.parsed(stamps, _fast_datetime)
    return table.batch(
        values,
        {"created_at": (stamps, _fast_datetime)} if texts is not None else {},
        lambda cells: _customer_record(cells, region),
        report,
    )


@dataclass
class _Batch:
    """A batch's valid rows in file order: (line, record) items, or, when every row took
    the common forms, the same a column at a time (``columns``, None where a row does not
    give the field), for a bulk insert without a dict per row. The items are made from the
    columns when the batch needs them after all (a match with a stored row, a retry row by
    row); ``cells``: for columns held as the driver's values (``utc_texts``,
    ``decimal_values``), the cells and what parses them."""

    given: list[tuple[int, dict[str, Any]]] | None = None
    lines: list[int] = field(default_factory=list)
    columns: dict[str, list[Any]] = field(default_factory=dict)
    cells: dict[str, tuple[list[str], Callable[[str], Any]]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.lines) if self.given is None else len(self.given)

    def items(self) -> list[tuple[int, dict[str, Any]]]:
        if self.given is None:
            columns = self.columns | {
                name: list(map(parse, cells)) for name, (cells, parse) in self.cells.items()
            }
            names = list(columns)
            rows = zip(*columns.values(), strict=True)
            self.given = [
                (line, {n: v for n, v in zip(names, fields, strict=True) if v is not None})
                for line, fields in zip(self.lines, rows, strict=True)
            ]
        return self.given

    def with_defaults(
        self, defaults: dict[str, Any]
    ) -> tuple[dict[str, list[Any]], dict[str, Any]]:
        """The columns, with ``defaults`` where a row does not give the field, and the
        defaults of the fields that no row gives (one value for every row)."""
        columns = dict(self.columns)
        constants: dict[str, Any] = {}
        for name, default in defaults.items():
            values = columns.get(name)
            if values is None or values.count(None) == len(values):
                columns.pop(name, None)
                constants[name] = default
            elif None in values:
                columns[name] = [default if value is None else value for value in values]
        return columns, constants


class _Columns:
    """A batch's cells a column at a time (C loops), and which rows every check so far has
    cleared (``clean``): the rest go to the row-by-row parser."""

    def __init__(self, read: _Read, mapping: dict[str, int], width: int) -> None:
        self.lines, self.rows = read.lines, read.rows
        self.clean = [len(row) == width for row in self.rows]
        self.whole = all(self.clean)
        self.mapping, self.width = mapping, width

    def take(
        self, name: str, check: Callable[[str], object] | None, optional: bool = False
    ) -> list[str]:
        """The column's cells; rows whose cell fails ``check`` are no longer clean (an
        empty cell of an ``optional`` column passes: it means not given)."""
        if name not in self.mapping:
            cells = [""] * len(self.rows)
        else:
            index = self.mapping[name]
            if self.whole:  # (nearly always)
                cells = list(map(operator.itemgetter(index), self.rows))
            else:
                cells = [
                    row[index] if ok else "" for row, ok in zip(self.rows, self.clean, strict=True)
                ]
        if check is not None:
            self.check(cells, check, optional)
        return cells

    def lowered(self, name: str, check: Callable[[str], object], optional: bool) -> list[str]:
        """The column's cells in lower case, checked in lower case (emails, yes/no)."""
        cells = list(map(str.lower, self.take(name, None)))
        self.check(cells, check, optional)
        return cells

    def check(self, cells: list[str], check: Callable[[str], object], optional: bool) -> None:
        """Rows whose cell fails ``check`` are no longer clean."""
        given = list(filter(None, cells)) if optional else cells
        if not (check.column(given) if isinstance(check, CellForm) else all(map(check, given))):
            self.clean = [
                ok and ((optional and not cell) or bool(check(cell)))
                for ok, cell in zip(self.clean, cells, strict=True)
            ]

    def parse(
        self,
        name: str,
        check: Callable[[str], object],
        parse: Callable[[str], Any],
        optional: bool = True,
    ) -> list[Any]:
        """The column's cells through ``parse`` (None: not given, or not clean)."""
        return self.parsed(self.take(name, check, optional), parse)

    def parsed(self, cells: list[str], parse: Callable[[str], Any]) -> list[Any]:
        """``cells`` through ``parse`` (None: empty, or not clean). A cell ``parse``
        refuses after all (``2025-02-30``) makes its row unclean."""
        if not any(cells):  # (a column not given)
            return [None] * len(cells)
        parsed = [
            parse(cell) if ok and cell else None for cell, ok in zip(cells, self.clean, strict=True)
        ]
        failed = [
            bool(cell) and ok and value is None
            for cell, ok, value in zip(cells, self.clean, parsed, strict=True)
        ]
        if any(failed):
            self.clean = [ok and not bad for ok, bad in zip(self.clean, failed, strict=True)]
        return parsed

    def batch(
        self,
        values: dict[str, list[Any]],
        cells: dict[str, tuple[list[str], Callable[[str], Any]]],
        parse_row: Callable[[dict[str, str]], dict[str, Any]],
        report: ImportReport,
    ) -> _Batch:
        """The batch: column-wise when every row is clean (``cells``: see ``_Batch``), else
        as items (the clean rows' from ``values``, the others' from ``parse_row``, or
        rejected), in file order."""
        if all(self.clean):
            return _Batch(lines=self.lines, columns=values, cells=cells)
        mask = self.clean
        clean = _Batch(
            lines=list(itertools.compress(self.lines, mask)),
            columns={name: list(itertools.compress(v, mask)) for name, v in values.items()},
        )
        made = iter(clean.items())
        items: list[tuple[int, dict[str, Any]]] = []
        for line, row, ok in zip(self.lines, self.rows, mask, strict=True):
            if ok:
                items.append(next(made))
                continue
            try:
                items.append((line, parse_row(_cells(row, self.mapping, self.width, False))))
            except RowError as exc:
                report.reject(line, str(exc))
        return _Batch(items)


def _never(cell: str) -> bool:
    return False


def _or_none(cells: list[str]) -> list[Any]:
    """The cells, None for the empty ones (columns are nearly always given in full, or
    not at all: C-level checks first)."""
    if all(cells):
        return cells
    if not any(cells):
        return [None] * len(cells)
    return [cell or None for cell in cells]


def _fast_birthday(text: str) -> dt.date | None:
    try:
        birthday = dt.date.fromisoformat(text)
    except ValueError:
        return None
    return birthday if _plausible(birthday) else None


def _plausible(birthday: dt.date) -> bool:
    return dt.date(1900, 1, 1) <= birthday <= dt.date.today()


def _known_zone(name: str) -> bool:
    """Whether ``name`` is an IANA time zone (remembered: a file repeats a few zones)."""
    known = _ZONES.get(name)
    if known is None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(name)
            known = True
        except (ZoneInfoNotFoundError, ValueError):
            known = False
        if len(_ZONES) < 10_000:
            _ZONES[name] = known
    return known


def _tags(text: str) -> list[str]:
    return sorted({t.strip() for t in re.split(r"[;|]", text) if t.strip()})


def _match_customers(session: Session, keys: dict[str, set[Any]]) -> list[Customer]:
    """The stored customers with one of ``keys`` (external ids, emails, phones)."""
    found: dict[int, Customer] = {}
    dialect = session.get_bind().dialect
    for key, values in keys.items():
        if values:
            column = getattr(Customer, key)
            for customer in session.scalars(select(Customer).where(among(column, values, dialect))):
                found[customer.id] = customer
    return list(found.values())


def _no_customer_has(session: Session, emails: list[str]) -> bool:
    """Whether no stored customer has one of ``emails``."""
    dialect = session.get_bind().dialect
    found = select(Customer.id).where(among(Customer.email, emails, dialect)).limit(1)
    return not emails or session.execute(found).first() is None


_KEY_NAMES = {"external_id": "customer id", "email": "email", "phone": "phone"}


def _merge_in_batch(
    items: list[tuple[int, dict[str, Any]]], report: ImportReport
) -> list[tuple[int, dict[str, Any]]]:
    """Rows of one batch that name the same customer become one record (later values win)."""
    if all(_distinct(record.get(key) for _, record in items) for key in CUSTOMER_KEYS):
        return items  # (nearly always) no two rows share an id, email or phone
    merged: list[tuple[int, dict[str, Any]]] = []
    index: dict[tuple[str, Any], int] = {}
    for line, record in items:
        key = next((k for k in CUSTOMER_KEYS if (k, record.get(k)) in index), None)
        if key is None:
            position = len(merged)
            merged.append((line, dict(record)))
        else:
            position = index[(key, record[key])]
            first_line, earlier = merged[position]
            if "external_id" in record and earlier.get("external_id") not in (
                None,
                record["external_id"],
            ):
                report.reject(
                    line,
                    f"its email or phone belongs to customer {earlier['external_id']} "
                    f"(line {first_line}), not {record['external_id']}",
                )
                continue
            earlier.update(record)
            report.merge(line, f"line {first_line} (same {_KEY_NAMES[key]})")
        for key in CUSTOMER_KEYS:
            if key in merged[position][1]:
                index[(key, merged[position][1][key])] = position
    return merged


def _distinct(values: Iterable[Any]) -> bool:
    """Whether no value but None appears twice."""
    if isinstance(values, list) and None not in values:
        return len(set(values)) == len(values)
    given = [value for value in values if value is not None]
    return len(set(given)) == len(given)


def _new_customers(dialect: Dialect, batch: _Batch) -> PreparedInsert | None:
    """The INSERT of a column-wise batch whose rows share no id or email (no phones: those
    go row by row), made before the write turn; it is used when none of its customers is
    stored yet (nearly every batch of a first import)."""
    if batch.given is not None:
        return None
    if not all(_distinct(batch.columns[key]) for key in ("external_id", "email")):
        return None
    now = utcnow()
    columns, constants = batch.with_defaults({**NEW_CUSTOMER, "created_at": now})
    constants["updated_at"] = now
    return PreparedInsert(dialect, CUSTOMERS, len(batch), columns, constants)


def _import_customer_batch(
    session: Session, batch: _Batch, report: ImportReport, prepared: PreparedInsert | None
) -> None:
    """Match the batch's customers with the stored ones and write them (``prepared``: the
    batch's INSERT, from ``_new_customers``, if all turn out new)."""
    now = utcnow()
    if prepared is not None:  # no two rows share a key: no merging within the batch
        emails = [email for email in batch.columns["email"] if email is not None]
        if _no_customer_has(session, emails):
            # External ids: the unique index refuses a stored one, and the batch is
            # matched after all (a lookup would cost as much as the insert's own check).
            try:
                with session.begin_nested():
                    prepared.execute(session)
            except IntegrityError:
                pass
            else:
                report.created += len(batch)
                return
        keys = {key: set(batch.columns[key]) - {None} for key in ("external_id", "email")}
        existing = _match_customers(session, keys)
        records = batch.items()
    else:
        records = _merge_in_batch(batch.items(), report)
        keys = {key: {r[key] for _, r in records if key in r} for key in CUSTOMER_KEYS}
        existing = _match_customers(session, keys)
    by_key = {
        (key, getattr(c, key)): c for c in existing for key in CUSTOMER_KEYS if getattr(c, key)
    }
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for line, record in records:
        customer = key = None
        if by_key:  # empty when none is stored yet (a first import): no lookup per row
            key = next((k for k in CUSTOMER_KEYS if (k, record.get(k)) in by_key), None)
            customer = by_key[(key, record[key])] if key is not None else None
        if customer is None:
            inserts.append({**NEW_CUSTOMER, "created_at": now, **record})
            report.created += 1
            continue
        if (
            "external_id" in record
            and customer.external_id is not None
            and customer.external_id != record["external_id"]
        ):
            report.reject(
                line,
                f"its email or phone belongs to customer {customer.external_id}, "
                f"not {record['external_id']}",
            )
            continue
        if "external_id" not in record or customer.external_id != record.get("external_id"):
            stored = customer.external_id or f"#{customer.id}"
            report.merge(line, f"stored customer {stored} (same {_KEY_NAMES[str(key)]})")
        changes = {k: v for k, v in record.items() if getattr(customer, k) != v}
        if changes:
            updates.append({"id": customer.id, "updated_at": now, **changes})
            report.updated += 1
        else:
            report.unchanged += 1
    if inserts:
        bulk_insert(session, CUSTOMERS, inserts, {"updated_at": now})
    if updates:
        session.execute(update(Customer), updates)


# -- orders ----------------------------------------------------------------------------


def _order_record(cells: dict[str, str]) -> dict[str, Any]:
    record: dict[str, Any] = {}
    problems = _Problems()
    if not cells.get("external_id"):
        problems.add("has no order id")
    elif len(cells["external_id"]) > 64:
        problems.add("order id is longer than 64 characters")
    else:
        record["external_id"] = cells["external_id"]
    if cells.get("customer_external_id"):
        record["customer_external_id"] = cells["customer_external_id"]
    elif cells.get("customer_email"):
        record["customer_email"] = problems.parse(normalise_email, cells["customer_email"])
    else:
        problems.add("names no customer (customer id or email)")
    if not cells.get("ordered_at"):
        problems.add("has no order date")
    else:
        record["ordered_at"] = problems.parse(parse_datetime, cells["ordered_at"], "order date")
    if not cells.get("total_amount"):
        problems.add("has no amount")
    else:
        record["total_amount"] = problems.parse(parse_amount, cells["total_amount"])
    if cells.get("currency"):
        currency = cells["currency"].upper()
        if re.fullmatch(r"[A-Z]{3}", currency):
            record["currency"] = currency
        else:
            problems.add(f"currency {cells['currency']!r} is not a 3-letter code")
    if cells.get("status"):
        try:
            record["status"] = OrderStatus(cells["status"].lower())
        except ValueError:
            allowed = ", ".join(s.value for s in OrderStatus)
            problems.add(f"status {cells['status']!r} is not one of {allowed}")
    if cells.get("items_count"):
        if cells["items_count"].isdigit() and 0 < int(cells["items_count"]) < 100_000:
            record["items_count"] = int(cells["items_count"])
        else:
            problems.add(f"item count {cells['items_count']!r} is not a positive number")
    if cells.get("offer_code"):
        record["offer_code"] = cells["offer_code"][:64]
    problems.check()
    return record


# The forms nearly every row of an orders file takes, checked for a whole column at once
# (C loops); a row one of them does not clear goes through ``_order_record``, which accepts
# the other forms and words the rejection.
_FAST_AMOUNT = CellForm(r"\d{1,10}(?:\.\d{1,2})?")
_FAST_CURRENCY = CellForm(r"[A-Za-z]{3}")
_FAST_COUNT = CellForm(r"[1-9]\d{0,4}")
_FAST_STATUS = {s.value: s for s in OrderStatus} | {s.value.upper(): s for s in OrderStatus}
# Optional fields: the fast check of a cell, and its value once it passed.
_OPTIONAL_ORDER_FIELDS: dict[str, tuple[Callable[[str], object], Callable[[str], Any]]] = {
    "currency": (_FAST_CURRENCY, str.upper),
    "status": (_FAST_STATUS.get, _FAST_STATUS.__getitem__),
    "items_count": (_FAST_COUNT, int),
    "offer_code": (_FAST_ID, str),
}


def _order_rows(
    read: _Read,
    mapping: dict[str, int],
    width: int,
    report: ImportReport,
    dialect: Dialect,
) -> _Batch:
    """The batch's rows as orders (or rejections), in file order."""
    table = _Columns(read, mapping, width)
    values: dict[str, list[Any]] = {"external_id": table.take("external_id", _FAST_ID)}
    if "customer_external_id" in mapping:
        values["customer_external_id"] = table.take("customer_external_id", _FAST_ID)
    else:
        values["customer_email"] = table.lowered("customer_email", _FAST_EMAIL, False)
    for name, (check, finish) in _OPTIONAL_ORDER_FIELDS.items():
        if name in mapping:
            cells = table.take(name, check, optional=True)
            if all(cells) and all(table.clean):  # (a column given in full: a C loop)
                values[name] = list(map(finish, cells))
                continue
            values[name] = [
                finish(cell) if cell and ok else None
                for cell, ok in zip(cells, table.clean, strict=True)
            ]
    amounts = table.take("total_amount", _FAST_AMOUNT)
    stamps = table.take("ordered_at", bool)  # the form: utc_texts checks it, or _FAST_DATE
    texts = utc_texts(dialect, stamps) if all(table.clean) else None
    if texts is None:
        table.check(stamps, _FAST_DATE, optional=False)
        values["ordered_at"] = table.parsed(stamps, _fast_datetime)
    else:
        values["ordered_at"] = texts
    raw: dict[str, tuple[list[str], Callable[[str], Any]]] = {}
    if all(table.clean):  # the driver's values straight from the cells
        values["total_amount"] = decimal_values(dialect, amounts)
        raw["total_amount"] = (amounts, Decimal)
        if texts is not None:
            raw["ordered_at"] = (stamps, _fast_datetime)
    else:
        values["total_amount"] = [
            Decimal(a) if ok else None for a, ok in zip(amounts, table.clean, strict=True)
        ]
    return table.batch(values, raw, _order_record, report)


def _fast_datetime(text: str) -> dt.datetime | None:
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None  # not a date after all (2025-02-30): the slow path words it
    return as_utc(parsed)


@dataclass
class _OrderWrites:
    """What a batch of orders writes, converted for the driver before the write lock."""

    inserts: PreparedInsert | None
    updates: list[dict[str, Any]]
    checked: bool = True  # False: the orders were taken to be new without a lookup

    def apply(self, session: Session) -> None:
        if self.inserts:
            self.inserts.execute(session)
        if self.updates:
            session.execute(update(Order), self.updates)


def _plan_order_batch(
    session: Session, batch: _Batch, report: ImportReport, *, hopeful: bool = False
) -> _OrderWrites:
    """Look the batch's customers and orders up and count the outcome; what is to be
    written comes back, ready to go (it only reads: the write can wait for a lock).
    ``hopeful``: a batch that could be all new orders is taken to be, without looking its
    orders up: the unique index refuses the write if one is stored, and the caller plans
    the batch again without hope (``_OrderWrites.checked``)."""
    dialect = session.get_bind().dialect
    if batch.given is None:
        by_id = "customer_external_id" in batch.columns
        ref_key = "customer_external_id" if by_id else "customer_email"
        refs = {ref_key: set(batch.columns[ref_key])}
        order_ids = set(batch.columns["external_id"])
    else:
        refs = {
            key: {r[key] for _, r in batch.given if key in r}
            for key in ("customer_external_id", "customer_email")
        }
        order_ids = {r["external_id"] for _, r in batch.given}
    by_ref: dict[tuple[str, str | None], int] = {}
    if refs.get("customer_external_id"):
        for cid, ext in session.execute(
            select(Customer.id, Customer.external_id).where(
                among(Customer.external_id, refs["customer_external_id"], dialect)
            )
        ):
            by_ref[("customer_external_id", ext)] = cid
    if refs.get("customer_email"):
        for cid, email in session.execute(
            select(Customer.id, Customer.email)
            .where(among(Customer.email, refs["customer_email"], dialect))
            .order_by(Customer.id.desc())
        ):
            by_ref[("customer_email", email)] = cid
    now = utcnow()
    distinct = len(order_ids) == len(batch)  # none twice
    if hopeful and distinct:  # perhaps all new
        fast = _new_orders(dialect, batch, by_ref, now)
        if fast is not None:
            report.created += len(batch)
            return _OrderWrites(fast, [], checked=False)
    existing = {
        o.external_id: o
        for o in session.scalars(select(Order).where(among(Order.external_id, order_ids, dialect)))
    }
    if not existing and distinct and not hopeful:  # all new (a hopeful plan tried this)
        fast = _new_orders(dialect, batch, by_ref, now)
        if fast is not None:
            report.created += len(batch)
            return _OrderWrites(fast, [])
    inserts: dict[str, dict[str, Any]] = {}
    known: dict[str, dict[str, Any]] = {}  # rows for orders already stored
    first_lines: dict[str, int] = {}  # the line each order id first appears on
    for line, record in batch.items():
        ref_key = "customer_external_id" if "customer_external_id" in record else "customer_email"
        customer_id = by_ref.get((ref_key, record[ref_key]))
        if customer_id is None:
            report.reject(line, f"customer {record[ref_key]!r} is unknown (import customers first)")
            continue
        # The same order twice in a batch: the later row's values win (merged).
        target = known if record["external_id"] in existing else inserts
        earlier = target.get(record["external_id"])
        if earlier is None:
            fields = {**NEW_ORDER, **record} if target is inserts else record.copy()
            first_lines[record["external_id"]] = line
        else:
            fields = {**earlier, **record}
            first = first_lines[record["external_id"]]
            report.merge(line, f"line {first} (same order id {record['external_id']})")
        del fields[ref_key]  # the record stays as it is, for a row-by-row retry
        fields["customer_id"] = customer_id
        target[record["external_id"]] = fields
        if earlier is None and target is inserts:
            report.created += 1
    updates: list[dict[str, Any]] = []
    for external_id, fields in known.items():
        order = existing[external_id]
        changes = {k: v for k, v in fields.items() if getattr(order, k) != v}
        if changes:
            updates.append({"id": order.id, "updated_at": now, **changes})
            report.updated += 1
        else:
            report.unchanged += 1
    prepared = None
    if inserts:
        rows = list(inserts.values())
        prepared = prepare_insert(dialect, ORDERS, rows, {"created_at": now, "updated_at": now})
    return _OrderWrites(prepared, updates)


def _new_orders(
    dialect: Dialect,
    batch: _Batch,
    by_ref: dict[tuple[str, str | None], int],
    now: dt.datetime,
) -> PreparedInsert | None:
    """The insert for a batch of orders that are all new and each appear once (the
    caller knows), when they all name a known customer the same way (nearly every batch
    of a first import), made a column at a time; None for any other batch."""
    if batch.given is None:
        columns = batch.with_defaults(NEW_ORDER)[0]
    else:  # items: all with the same fields, or another batch
        records = [record for _, record in batch.given]
        keys = records[0].keys()
        if not all(map(keys.__eq__, map(dict.keys, records))):
            return None
        columns = {key: list(map(operator.itemgetter(key), records)) for key in keys}
    ref_key = "customer_external_id" if "customer_external_id" in columns else "customer_email"
    found = {value: cid for (kind, value), cid in by_ref.items() if kind == ref_key}
    customer_ids = list(map(found.get, columns.pop(ref_key)))
    if None in customer_ids:
        return None
    columns["customer_id"] = customer_ids
    constants = {key: value for key, value in NEW_ORDER.items() if key not in columns}
    constants |= {"created_at": now, "updated_at": now}
    return PreparedInsert(dialect, ORDERS, len(customer_ids), columns, constants)


# -- the import ------------------------------------------------------------------------


def import_csv(
    factory: sessionmaker[Session],
    kind: str,
    raw: BinaryIO,
    *,
    default_region: str = "DE",
    progress: Callable[[int], None] | None = None,
    batch_rows: int | None = None,
    line_offset: int = 0,
    turn: AbstractContextManager[object] | None = None,
    delimiter: str | None = None,
) -> ImportReport:
    """Import ``customers`` or ``orders`` from a CSV stream; one transaction per batch.
    (``line_offset``: the stream is the header plus a later part of the file, whose
    first row is on line ``2 + line_offset``; ``turn``: held while a batch is written;
    ``delimiter``: comma, semicolon, tab or pipe, found from the header line if None.)"""
    _check_kind(kind)
    report, hope = ImportReport(kind), _Hope()
    batch_rows = batch_rows or BATCH_ROWS[kind]
    header, report.delimiter, reads = _read(raw, progress, batch_rows, line_offset, delimiter)
    columns = CUSTOMER_COLUMNS if kind == "customers" else ORDER_COLUMNS
    mapping = _mapping(header, columns, report)
    found = f"found: {', '.join(header)}; read as {delimiter_name(report.delimiter)}-separated"
    if kind == "customers" and not any(k in mapping for k in CUSTOMER_KEYS):
        raise ValidationFailed(
            f"no column identifies the customer: name one external_id, email or phone ({found})"
        )
    if kind == "orders":
        missing = [
            name
            for name, ok in (
                ("order_id", "external_id" in mapping),
                (
                    "customer_id or customer_email",
                    bool({"customer_external_id", "customer_email"} & mapping.keys()),
                ),
                ("order_date", "ordered_at" in mapping),
                ("amount", "total_amount" in mapping),
            )
            if not ok
        ]
        if missing:
            raise ValidationFailed(f"missing column(s): {', '.join(missing)} ({found})")
    parse = (
        (lambda cells: _customer_record(cells, default_region))
        if kind == "customers"
        else _order_record
    )
    turn = turn or nullcontext()
    width = len(header)
    dialect = factory.kw["bind"].dialect
    for read in reads:
        report.blank_lines += read.blank
        if not read.rows:
            continue
        report.rows += len(read.rows)
        # One check for the whole batch; only a batch with a bad byte checks each row.
        if read.storable:  # (nearly always)
            # Valid UTF-8 without a NUL throughout: column-wise checks first.
            valid = (
                _order_rows(read, mapping, width, report, dialect)
                if kind == "orders"
                else _customer_rows(read, mapping, width, default_region, report, dialect)
            )
        else:
            items: list[tuple[int, dict[str, Any]]] = []
            for line, row in zip(read.lines, read.rows, strict=True):
                try:
                    items.append((line, parse(_cells(row, mapping, width))))
                except RowError as exc:
                    report.reject(line, str(exc))
            valid = _Batch(items)
        _write_batch(factory, kind, valid, report, turn, hope)
    report.rejected.sort()  # (rows rejected by the database come after the batch's others)
    report.merges.sort()
    return report


def _check_kind(kind: str) -> None:
    if kind not in BATCH_ROWS:
        raise ValidationFailed(f"can import customers or orders, not {kind!r}")


@dataclass
class _Hope:
    """Whether an import still takes a batch that could be all new orders to be new
    without looking its orders up: until a batch turns out to hold stored ones (a
    re-import, whose every batch would otherwise be planned twice)."""

    orders_new: bool = True


def _write_batch(
    factory: sessionmaker[Session],
    kind: str,
    valid: _Batch,
    report: ImportReport,
    turn: AbstractContextManager[object],
    hope: _Hope,
) -> None:
    """One transaction for the batch; if the database refuses it (a row broke a
    constraint), the batch is retried row by row so only the bad rows are rejected."""
    if not len(valid):
        return
    if _attempt(factory, kind, valid, report, turn, hope):
        return
    for item in valid.items():  # find the rows the database refuses
        if not _attempt(factory, kind, _Batch([item]), report, turn, hope):
            report.reject(item[0], "the database refused it (a conflicting record)")


def _attempt(
    factory: sessionmaker[Session],
    kind: str,
    batch: _Batch,
    report: ImportReport,
    turn: AbstractContextManager[object],
    hope: _Hope,
) -> bool:
    """Customers are looked up, merged and written in one write transaction, in ``turn``
    (merging by email needs the lock while it reads: the other half of the file waits).
    Orders are looked up and prepared in a read transaction and written in a short one,
    in ``turn``: another writer (the other half of the file) meanwhile does its reading.
    A batch that could be all new orders is at first taken to be (``_Hope``): its orders
    are not looked up, and if the unique index refuses one, the batch is planned again
    with the lookup. An order that appears in between makes the write fail, and the
    row-by-row retry sees it."""
    counts = (report.created, report.updated, report.unchanged, report.merged)
    rejected = (report.rejected_count, len(report.rejected), len(report.merges))

    def undo() -> None:
        session.rollback()
        report.created, report.updated, report.unchanged, report.merged = counts
        report.rejected_count = rejected[0]
        del report.rejected[rejected[1] :]
        del report.merges[rejected[2] :]

    with factory() as session:
        try:
            if kind == "customers":
                prepared = _new_customers(factory.kw["bind"].dialect, batch)
                with turn:
                    _import_customer_batch(session, batch, report, prepared)
                    session.commit()
                return True
            for hopeful in (True, False) if hope.orders_new else (False,):
                session.connection(execution_options=READ_ONLY)
                writes = _plan_order_batch(session, batch, report, hopeful=hopeful)
                session.commit()  # the end of the read transaction
                try:
                    with turn:
                        writes.apply(session)
                        session.commit()
                    return True
                except IntegrityError:
                    if writes.checked:
                        raise
                    undo()  # a stored order after all (a re-import): plan with lookups
                    hope.orders_new = False
            raise AssertionError("unreachable: the second plan is checked")
        except IntegrityError:
            undo()
            return False


# -- big order files: two processes -----------------------------------------------------

PARALLEL_BYTES = 32 * 1024**2
"""A file from this size on is imported by two processes, each half of the file: parsing
and validating rows is most of the work, and it is one core's work per process (the
database takes the two processes' batches one after the other)."""


def import_file(
    factory: sessionmaker[Session],
    kind: str,
    path: Path,
    *,
    default_region: str = "DE",
    progress: Callable[[int], None] | None = None,
    batch_rows: int | None = None,
    delimiter: str | None = None,
) -> ImportReport:
    """Import the CSV file at ``path``, like ``import_csv``; a big file in two processes.

    The halves write in turns (``_WriteTurn``), batch by batch, each batch matched and
    written in one go: orders by their unique order id, customers by id, email and phone
    under the turn, so the two halves cannot create one order or one customer twice. (A
    customer or an order that appears in both halves of one file ends up with either
    row's values; one file read in order keeps the later row.)"""
    _check_kind(kind)
    size = path.stat().st_size
    url = _database_url(factory)
    batch_rows = batch_rows or BATCH_ROWS[kind]
    if size < PARALLEL_BYTES or url is None:
        with path.open("rb") as raw:
            return import_csv(
                factory,
                kind,
                raw,
                default_region=default_region,
                progress=progress,
                batch_rows=batch_rows,
                delimiter=delimiter,
            )
    delimiter = delimiter or file_delimiter(path)  # (the same for both halves)
    split, line = _split_point(path, size)
    # (PostgreSQL takes concurrent orders as they come; customers are matched in turns.)
    serial = url.startswith("sqlite") or kind == "customers"
    turn = _WriteTurn.create() if serial else None
    with closing(turn) if turn else nullcontext():
        helper = _ImportHelper(
            url, kind, path, split, line, default_region, batch_rows, turn, delimiter
        )

        def both(n: int) -> None:  # this half's bytes, then what the helper did meanwhile
            if progress:
                progress(n)
            helper.poll(progress)

        with helper, path.open("rb") as raw:
            mine = import_csv(
                factory,
                kind,
                cast(BinaryIO, _Part(raw, limit=split)),
                default_region=default_region,
                progress=both,
                batch_rows=batch_rows,
                turn=turn,
                delimiter=delimiter,
            )
            theirs = helper.report(progress)
    if theirs is None:  # the helper failed (logged): its half is imported here
        theirs = _import_second_half(
            factory, kind, path, split, line, default_region, batch_rows, delimiter=delimiter
        )
    mine.add(theirs)
    return mine


def _database_url(factory: sessionmaker[Session]) -> str | None:
    """The URL another process can open, or None (an in-memory SQLite database)."""
    url = getattr(factory.kw.get("bind"), "url", None)
    if url is None or in_memory(url):
        return None
    return cast(str, url.render_as_string(hide_password=False))


def _import_second_half(
    factory: sessionmaker[Session],
    kind: str,
    path: Path,
    start: int,
    line: int,
    region: str,
    batch_rows: int,
    progress: Callable[[int], None] | None = None,
    turn: _WriteTurn | None = None,
    delimiter: str | None = None,
) -> ImportReport:
    """Import the rows of ``path`` from byte ``start`` (a record boundary on ``line``) on,
    behind the file's header line; ``progress`` does not hear of the header's bytes."""
    with path.open("rb") as raw:
        header = raw.readline()
        if progress:
            progress(-len(header))  # the header line is the first half's
        raw.seek(start)
        return import_csv(
            factory,
            kind,
            cast(BinaryIO, _Part(raw, head=header)),
            default_region=region,
            progress=progress,
            batch_rows=batch_rows,
            line_offset=line - 2,
            turn=turn,
            delimiter=delimiter,
        )


def _split_point(path: Path, size: int) -> tuple[int, int]:
    """A record boundary near the middle of the file: the byte offset where the second half
    starts and the line it starts on. (A newline inside a quoted field is no boundary: the
    quotes before it are counted.)"""
    quotes = newlines = offset = 0
    with path.open("rb") as raw:
        while offset < size // 2:  # count up to the middle
            block = raw.read(min(16 * 1024**2, size // 2 - offset))
            quotes += block.count(b'"')
            newlines += block.count(b"\n")
            offset += len(block)
        while block := raw.read(1024**2):  # then look for the first newline outside quotes
            at = block.find(b"\n")
            while at != -1:
                if (quotes + block.count(b'"', 0, at)) % 2 == 0:
                    return offset + at + 1, newlines + block.count(b"\n", 0, at) + 2
                at = block.find(b"\n", at + 1)
            quotes += block.count(b'"')
            newlines += block.count(b"\n")
            offset += len(block)
    return size, newlines + 1


class _Part(io.RawIOBase):
    """Part of a file: ``head`` (the header line) first, then ``raw`` from where it stands,
    up to ``limit`` bytes of it."""

    def __init__(self, raw: BinaryIO, *, head: bytes = b"", limit: int | None = None) -> None:
        self.raw, self.head, self.left = raw, head, limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.head:
            data, self.head = self.head[: len(buffer)], self.head[len(buffer) :]
        else:
            size = len(buffer) if self.left is None else min(len(buffer), self.left)
            data = self.raw.read(size)
            if self.left is not None:
                self.left -= len(data)
        buffer[: len(data)] = data
        return len(data)


class _WriteTurn:
    """The two processes importing one file write in turn, under this lock (``flock`` on a
    temporary file): into SQLite, where a waiting process wakes the moment the other one
    has committed (SQLite's own busy wait sleeps in steps of up to 100 ms), and customers
    into any database (each batch is matched by email and phone, then written: two at
    once could both create one customer). The parsing of the next batch, and the lookups
    of orders, happen outside it, in parallel."""

    def __init__(self, path: str, *, owner: bool = False) -> None:
        self.path, self.owner = path, owner
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)

    @classmethod
    def create(cls) -> _WriteTurn:
        fd, path = tempfile.mkstemp(prefix="careloop-import-", suffix=".lock")
        os.close(fd)
        return cls(path, owner=True)

    def __enter__(self) -> _WriteTurn:
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)

    def close(self) -> None:
        os.close(self.fd)
        if self.owner:
            Path(self.path).unlink(missing_ok=True)


class _ImportHelper(Helper):
    """``python -m crm.imports.service``: imports the second half of a file while this
    process imports the first. It reports its progress (bytes) and, at the end, its report
    as JSON lines on stdout."""

    def __init__(
        self,
        url: str,
        kind: str,
        path: Path,
        start: int,
        line: int,
        region: str,
        batch_rows: int,
        turn: _WriteTurn | None,
        delimiter: str,
    ) -> None:
        lock = turn.path if turn else "-"
        arguments = [kind, str(path), str(start), str(line), region, str(batch_rows), lock]
        arguments.append(delimiter)
        super().__init__("crm.imports.service", arguments, url)
        os.set_blocking(self.stdout.fileno(), False)
        self.pending = b""
        self.final: dict[str, Any] | None = None

    def poll(self, progress: Callable[[int], None] | None, *, wait: bool = False) -> None:
        """Read what the helper has said so far (all of it, to its end, with ``wait``)."""
        if wait:
            os.set_blocking(self.stdout.fileno(), True)
        while True:
            data = self.stdout.read(65536)  # None: nothing yet (non-blocking)
            if not data:
                break
            self.pending += data
        *lines, self.pending = self.pending.split(b"\n")
        for message in lines:
            kind, _, value = message.partition(b" ")
            if kind == b"progress" and progress:
                progress(int(value))
            elif kind == b"report":
                self.final = json.loads(value)

    def report(self, progress: Callable[[int], None] | None) -> ImportReport | None:
        self.poll(progress, wait=True)
        code = self.process.wait()
        if code != 0 or self.final is None:
            log.warning("crm.import.helper_failed code=%s", code)
            return None
        return ImportReport.from_dict(self.final)


def _helper_main(arguments: list[str]) -> None:
    """The helper process: import the rows from byte ``start`` (line ``line``) on."""
    kind, path, start, line, region, batch_rows, lock, delimiter = arguments
    url = read_database_url()
    out = sys.stdout.buffer
    unreported = [0]

    def progress(n: int) -> None:
        unreported[0] += n
        if unreported[0] >= 1024**2:
            out.write(b"progress %d\n" % unreported[0])
            out.flush()
            unreported[0] = 0

    engine = create_db_engine(url)
    turn = _WriteTurn(lock) if lock != "-" else None
    try:
        factory = create_session_factory(engine)
        report = _import_second_half(
            factory,
            kind,
            Path(path),
            int(start),
            int(line),
            region,
            int(batch_rows),
            progress,
            turn,
            delimiter,
        )
    finally:
        engine.dispose()
        if turn:
            turn.close()
    out.write(b"progress %d\n" % unreported[0])
    out.write(b"report " + json.dumps(report.as_dict()).encode() + b"\n")
    out.flush()


if __name__ == "__main__":
    _helper_main(sys.argv[1:])
