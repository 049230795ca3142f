"""Reading an import file: its header and delimiter, then its rows in batches of text
columns (polars), each row with the line it starts on and what makes it unreadable."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
import polars as pl

from careloop.errors import ValidationFailed
from crm.imports.columns import DELIMITERS

CHUNK_BYTES = 16 * 1024**2
"""Bytes read at a time: the memory an import holds does not grow with the file."""
_NOT_UTF8 = "is not valid UTF-8 (save the file as UTF-8)"
_READ: dict[str, Any] = {
    "has_header": False,
    "truncate_ragged_lines": True,
    "missing_columns": "insert",
}
_READ |= {"empty_string_is_null": False}  # (missing cells: "" as well; counted by numpy)
_NAMES = "comma, semicolon, tab or pipe"
_NUL = "contains a NUL character (\\0), which cannot be stored"


def sniff_delimiter(header_line: str) -> str:
    """The delimiter of a file with this header line: of comma, semicolon, tab and pipe,
    the one that splits it into the most columns (quotes respected); a comma on a tie
    (a single column). (``csv.Sniffer`` prefers a comma whenever one line has one, as in
    ``id;amount (EUR, gross)``.)"""
    split = {d: len(next(csv.reader([header_line], delimiter=d), [])) for d in DELIMITERS}
    best = max(split, key=split.__getitem__)
    return best if split[best] > 1 else ","


@dataclass
class CsvFile:
    """An open import file: its header, its delimiter, and the stream after the header."""

    header: list[str]
    delimiter: str
    raw: BinaryIO
    progress: Callable[[int], None] | None = None
    chunk_bytes: int = CHUNK_BYTES

    @classmethod
    def open(
        cls,
        raw: BinaryIO,
        delimiter: str | None = None,
        progress: Callable[[int], None] | None = None,
        chunk_bytes: int = CHUNK_BYTES,
    ) -> CsvFile:
        first = raw.readline()
        text = first.decode("utf-8-sig", errors="replace")
        if not text.strip():
            raise ValidationFailed("the file is empty (a header row is needed)")
        if delimiter not in (None, *DELIMITERS):
            raise ValidationFailed(f"the delimiter {delimiter!r} is not one of {_NAMES}")
        delimiter = delimiter or sniff_delimiter(text)
        header = next(csv.reader([text.rstrip("\r\n")], delimiter=delimiter))
        if progress:
            progress(len(first))
        return cls(header, delimiter, raw, progress, chunk_bytes)

    def mapping(self, columns: dict[str, tuple[str, ...]]) -> dict[str, int]:
        """Each field's column: the first header that is one of its names (case, spaces
        and dashes do not matter) and not another field's."""
        names = [re.sub(r"[\s\-.]+", "_", h.strip().lower()).strip("_") for h in self.header]
        found: dict[str, int] = {}
        for field, aliases in columns.items():
            free = (names.index(a) for a in aliases if a in names)
            index = next((i for i in free if i not in found.values()), None)
            if index is not None:
                found[field] = index
        return found

    def batches(
        self, mapping: dict[str, int], fields: list[str], rows: int
    ) -> Iterator[tuple[pl.DataFrame, int]]:
        """Frames of up to ``rows`` rows, and the blank lines skipped before each: a column
        per field (stripped text, "" when empty or not in the file), ``line`` (where the
        row starts) and ``fault`` (why the row cannot be read, else null)."""
        line, width = 2, len(self.header)
        cells = [
            pl.col(f"c{mapping[f]}").str.strip_chars() if f in mapping else pl.lit("")
            for f in fields
        ]
        wrong = pl.format(f"has {{}} fields, the header has {width}", "fields")
        for chunk in self._chunks():
            frame, lines = _parse(chunk, width, self.delimiter)
            blank = pl.concat_str(pl.col(f"c{i}") for i in range(width)).str.contains(r"^\s*$")
            fault = pl.when(pl.col("fields").is_in([0, width])).then("fault").otherwise(wrong)
            frame = frame.with_columns(line=lines + line, fault=fault, blank=blank)
            line += chunk.count(b"\n") + chunk.count(b"\r") - chunk.count(b"\r\n")
            kept = frame.filter(~pl.col("blank"))
            kept = kept.select(
                "line", "fault", *(c.alias(f) for c, f in zip(cells, fields, strict=True))
            )
            for start in range(0, max(kept.height, 1), rows):
                yield kept.slice(start, rows), frame.height - kept.height if not start else 0

    def _chunks(self) -> Iterator[bytes]:
        """The rest of the stream in pieces of whole records, each ending with a newline
        (one with an unclosed quote ends at a line break once it grows too long)."""
        carry = b""
        while block := self.raw.read(self.chunk_bytes):
            if self.progress:
                self.progress(len(block))
            data = carry + block
            ends = _record_ends(np.frombuffer(data, np.uint8))
            cut = int(ends[-1]) + 1 if len(ends) else 0
            if not cut and len(data) > 4 * self.chunk_bytes:
                cut = data.rfind(b"\n") + 1
            if cut:
                yield data[:cut]
            carry = data[cut:]
        if carry:
            yield carry if carry.endswith(b"\n") else carry + b"\n"


def _record_ends(data: np.ndarray, quotes: np.ndarray | None = None) -> np.ndarray:
    """The positions of the newlines that end a record (not inside quotes)."""
    newlines = np.flatnonzero(data == 10)
    quotes = np.flatnonzero(data == 34) if quotes is None else quotes
    ends: np.ndarray = newlines[np.searchsorted(quotes, newlines) % 2 == 0]
    return ends


def _parse(chunk: bytes, width: int, delimiter: str) -> tuple[pl.DataFrame, np.ndarray]:
    """The chunk's records as ``c0``.. (text), ``fields`` (how many the record has) and
    ``fault`` (not UTF-8, a NUL), and the line each starts on (from 0). Record bounds,
    field counts and lines come from where the newlines, quotes and delimiters are
    (numpy); polars reads the cells. Where the two disagree (a quote inside an unquoted
    cell), Python's CSV reader reads the chunk instead."""
    data = np.frombuffer(chunk, np.uint8)
    quotes = np.flatnonzero(data == 34)
    ends = _record_ends(data, quotes)
    starts = np.concatenate(([0], ends[:-1] + 1))
    seps = np.flatnonzero(data == ord(delimiter))
    seps = seps[np.searchsorted(quotes, seps) % 2 == 0]
    breaks = np.flatnonzero(data == 10)
    if b"\r" in chunk:  # a lone \r ends a line too
        cr = np.flatnonzero(data == 13)
        breaks = np.union1d(breaks, cr[data[np.minimum(cr + 1, len(data) - 1)] != 10])
    faults: list[str | None] = [None] * len(starts)
    encoding = "utf8"
    if not chunk.isascii() and not _utf8(chunk):
        encoding = "utf8-lossy"
        for i, (start, end) in enumerate(zip(starts, ends, strict=True)):
            faults[i] = None if _utf8(chunk[start:end]) else _NOT_UTF8
    for i in np.searchsorted(ends, np.flatnonzero(data == 0)) if b"\0" in chunk else ():
        faults[i] = faults[i] or _NUL  # (PostgreSQL stores no NUL in text)
    schema = {f"c{i}": pl.String for i in range(width)}
    try:
        frame = pl.read_csv(chunk, separator=delimiter, schema=schema, encoding=encoding, **_READ)
    except pl.exceptions.ComputeError:  # (quotes the count above got wrong)
        frame = pl.DataFrame()
    if frame.height != len(starts):
        return _parse_slowly(chunk, schema, delimiter)
    fields = np.searchsorted(seps, ends) - np.searchsorted(seps, starts) + 1
    extra = pl.DataFrame({"fields": fields, "fault": pl.Series(faults, dtype=pl.String)})
    return pl.concat([frame, extra], how="horizontal"), np.searchsorted(breaks, starts)


def _utf8(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


def _parse_slowly(
    chunk: bytes, schema: dict[str, type[pl.String]], delimiter: str
) -> tuple[pl.DataFrame, np.ndarray]:
    """``_parse`` by Python's CSV reader."""
    text = chunk.decode("utf-8", errors="surrogateescape")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[list[str]] = []
    lines: list[int] = []
    faults: list[str | None] = []
    fault: str | None
    while True:
        before = reader.line_num
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            row, fault = [], f"the CSV is malformed here ({exc})"
        else:
            fault = _NUL if "\0" in "".join(row) else None
            if not _utf8("".join(row).encode(errors="surrogateescape")):
                fault = _NOT_UTF8
                row = [c.encode(errors="surrogateescape").decode(errors="replace") for c in row]
        rows.append(row)
        lines.append(before)
        faults.append(fault)
    columns = {
        name: [row[i] if i < len(row) else "" for row in rows] for i, name in enumerate(schema)
    }
    frame = pl.DataFrame(columns, schema=schema).with_columns(
        fields=pl.Series([len(row) for row in rows]), fault=pl.Series(faults, dtype=pl.String)
    )
    return frame, np.array(lines, dtype=np.int64)
