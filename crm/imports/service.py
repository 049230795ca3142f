"""CSV import of customers and orders: streamed, validated, de-duplicated, idempotent.

The file is read a batch at a time (``reader``, polars); every row is checked whole and a
bad one rejected with its line and every reason (``validate``); each batch is one
transaction, matched with the stored rows and written by SQL from a staging table
(``merge``). Customers are matched by external id, then email, then E.164 phone; orders by
their id. Importing the same file again changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import polars as pl
from sqlalchemy.orm import Session, sessionmaker

from careloop.errors import ValidationFailed
from crm.db import utcnow
from crm.imports import merge, validate
from crm.imports.columns import CUSTOMER_COLUMNS, ORDER_COLUMNS, delimiter_name
from crm.imports.reader import CsvFile, sniff_delimiter
from crm.imports.report import ImportReport

__all__ = ["ImportReport", "import_csv", "import_file", "sniff_delimiter"]

BATCH_ROWS = 100_000  # rows per transaction (and per staging table)
_FOLD_KEYS = {"customers": merge.CUSTOMER_KEYS, "orders": {"external_id": "order id {}"}}


def import_csv(
    factory: sessionmaker[Session],
    kind: str,
    raw: BinaryIO,
    *,
    default_region: str = "DE",
    progress: Callable[[int], None] | None = None,
    batch_rows: int | None = None,
    delimiter: str | None = None,
) -> ImportReport:
    """Import ``customers`` or ``orders`` from a CSV stream, one transaction per batch
    (``delimiter``: comma, semicolon, tab or pipe, found from the header line if None;
    ``progress`` hears of the bytes read; national phone numbers are read in
    ``default_region``)."""
    if kind not in _FOLD_KEYS:
        raise ValidationFailed(f"can import customers or orders, not {kind!r}")
    report = ImportReport(kind)
    source = CsvFile.open(raw, delimiter, progress)
    columns = CUSTOMER_COLUMNS if kind == "customers" else ORDER_COLUMNS
    mapping = source.mapping(columns)
    report.delimiter = source.delimiter
    report.columns = {field: source.header[i].strip() for field, i in mapping.items()}
    report.ignored_columns = [h for i, h in enumerate(source.header) if i not in mapping.values()]
    _check_columns(kind, mapping, source)
    for frame, blank in source.batches(mapping, list(columns), batch_rows or BATCH_ROWS):
        report.blank_lines += blank
        report.rows += frame.height
        customers = kind == "customers"
        checked = validate.customers(frame, default_region) if customers else validate.orders(frame)
        for line, reason in checked.filter(pl.col("error").is_not_null())[:, :2].iter_rows():
            report.reject(line, reason)
        valid = checked.filter(pl.col("error").is_null()).drop("error")
        valid = merge.fold(valid, _FOLD_KEYS[kind], report)
        if valid.height:
            _write_batch(factory, kind, valid, report)
    report.rejected.sort()
    report.merges.sort()
    return report


def import_file(
    factory: sessionmaker[Session], kind: str, path: Path, **options: object
) -> ImportReport:
    """Import the CSV file at ``path``, like ``import_csv`` (the same options)."""
    with path.open("rb") as raw:
        return import_csv(factory, kind, raw, **options)  # type: ignore[arg-type]


def _check_columns(kind: str, mapping: dict[str, int], source: CsvFile) -> None:
    found = f"found: {', '.join(source.header)}; read as {delimiter_name(source.delimiter)}"
    if kind == "customers" and not set(merge.CUSTOMER_KEYS) & set(mapping):
        needed = "no column identifies the customer: name one external_id, email or phone"
        raise ValidationFailed(f"{needed} ({found}-separated)")
    fields = ("external_id", "customer_external_id customer_email", "ordered_at", "total_amount")
    names = ("order_id", "customer_id or customer_email", "order_date", "amount")
    missing = [n for f, n in zip(fields, names, strict=True) if not set(f.split()) & set(mapping)]
    if kind == "orders" and missing:
        raise ValidationFailed(f"missing column(s): {', '.join(missing)} ({found}-separated)")


def _write_batch(
    factory: sessionmaker[Session], kind: str, valid: pl.DataFrame, report: ImportReport
) -> None:
    """One transaction: the batch is staged, matched, counted and written."""
    with factory() as session:
        write = merge.merge_customers if kind == "customers" else merge.merge_orders
        write(session.connection(), valid, report, utcnow())
        session.commit()
