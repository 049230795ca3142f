"""Reading an import file: its header and delimiter, then its rows in batches of typed
columns (polars), each row with the line it starts on and what makes it unreadable."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import polars as pl

from careloop.errors import ValidationFailed
from crm.imports.columns import DELIMITERS

CHUNK_BYTES = 16 * 1024**2
"""Bytes read at a time: the memory an import holds does not grow with the file."""


def normalise_header(name: str) -> str:
    return re.sub(r"[\s\-.]+", "_", name.strip().lower()).strip("_")


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


@dataclass
class CsvFile:
    """An open import file: its header, its delimiter, and the stream after the header."""

    header: list[str]
    delimiter: str
    raw: BinaryIO
    progress: Callable[[int], None] | None
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
        if progress and first:
            progress(len(first))
        text = first.decode("utf-8-sig", errors="replace")
        if not text.strip():
            raise ValidationFailed("the file is empty (a header row is needed)")
        if delimiter is None:
            delimiter = sniff_delimiter(text)
        elif delimiter not in DELIMITERS:
            raise ValidationFailed(
                f"the delimiter {delimiter!r} is not one of comma, semicolon, tab or pipe"
            )
        header = next(csv.reader([text.rstrip("\r\n")], delimiter=delimiter))
        return cls(header, delimiter, raw, progress, chunk_bytes)

    def mapping(self, columns: dict[str, tuple[str, ...]]) -> dict[str, int]:
        """Each field's column: the first header that is one of its names."""
        names = [normalise_header(h) for h in self.header]
        found: dict[str, int] = {}
        for target, aliases in columns.items():
            index = next((names.index(a) for a in aliases if a in names), None)
            if index is not None and index not in found.values():
                found[target] = index
        return found

    def batches(
        self, mapping: dict[str, int], fields: list[str], rows: int
    ) -> Iterator[tuple[pl.DataFrame, int]]:
        """Frames of up to ``rows`` rows and the blank lines skipped before each: a column
        per field (stripped text, "" when empty or not in the file), ``line`` (where the
        row starts) and ``fault`` (why the row cannot be read, else null)."""
        line = 2
        width = len(self.header)
        for chunk in self._chunks():
            frame, lines = _parse(chunk, width, self.delimiter)
            cells = [pl.col(f"c{i}") for i in range(width)]
            blank = pl.concat_str(cells).str.contains(r"^\s*$")
            frame = frame.with_columns(
                line=pl.Series(lines + line, dtype=pl.Int64),
                fault=pl.when(pl.col("fields") != width)
                .then(pl.format(f"has {{}} fields, the header has {width}", "fields"))
                .otherwise("fault"),
                blank=blank,
            )
            line += _breaks(chunk)
            skipped = int(frame["blank"].sum())
            frame = frame.filter(~pl.col("blank")).select(
                "line",
                "fault",
                *(
                    pl.col(f"c{mapping[name]}").str.strip_chars().alias(name)
                    if name in mapping
                    else pl.lit("").alias(name)
                    for name in fields
                ),
            )
            for start in range(0, max(frame.height, 1), rows):
                yield frame.slice(start, rows), skipped if start == 0 else 0

    def _chunks(self) -> Iterator[bytes]:
        """The rest of the stream in pieces of whole records, each ending with a newline."""
        carry = b""
        while True:
            block = self.raw.read(self.chunk_bytes)
            if self.progress and block:
                self.progress(len(block))
            if not block:
                if carry:
                    yield carry if carry.endswith(b"\n") else carry + b"\n"
                return
            data = carry + block
            ends = _record_ends(np.frombuffer(data, np.uint8))
            # (an unclosed quote would make the rest one record: cut at a line instead)
            cut = int(ends[-1]) + 1 if len(ends) else 0
            if not cut and len(data) > 4 * self.chunk_bytes:
                cut = data.rfind(b"\n") + 1
            if cut:
                yield data[:cut]
            carry = data[cut:]


def _record_ends(data: np.ndarray, quotes: np.ndarray | None = None) -> np.ndarray:
    """The positions of the newlines that end a record (not inside quotes)."""
    newlines = np.flatnonzero(data == 10)
    quotes = np.flatnonzero(data == 34) if quotes is None else quotes
    if not len(quotes):
        return newlines
    ends: np.ndarray = newlines[np.searchsorted(quotes, newlines) % 2 == 0]
    return ends


def _breaks(chunk: bytes) -> int:
    """Line breaks, counted as Python's CSV reader counts them (\\r\\n, \\n or \\r)."""
    return chunk.count(b"\n") + chunk.count(b"\r") - chunk.count(b"\r\n")


def _parse(chunk: bytes, width: int, delimiter: str) -> tuple[pl.DataFrame, np.ndarray]:
    """The chunk's records as ``c0``..``c{width-1}`` (text), ``fields`` (how many the
    record has) and ``fault`` (not UTF-8, a NUL), and the line each starts on (from 0).
    The record boundaries, field counts and lines come from the positions of newlines,
    quotes and delimiters (numpy); polars reads the cells. Where the two disagree (a quote
    inside an unquoted cell), Python's CSV reader reads the chunk instead."""
    data = np.frombuffer(chunk, np.uint8)
    quotes = np.flatnonzero(data == 34)
    ends = _record_ends(data, quotes)
    starts = np.concatenate(([0], ends[:-1] + 1))
    seps = np.flatnonzero(data == ord(delimiter))
    if len(quotes):
        seps = seps[np.searchsorted(quotes, seps) % 2 == 0]
    fields = np.searchsorted(seps, ends) - np.searchsorted(seps, starts) + 1
    breaks = np.flatnonzero(data == 10)
    if b"\r" in chunk:  # a lone \r ends a line too
        cr = np.flatnonzero(data == 13)
        breaks = np.union1d(breaks, cr[data[np.minimum(cr + 1, len(data) - 1)] != 10])
    lines = np.searchsorted(breaks, starts)
    faults: list[str | None] = [None] * len(starts)
    encoding = "utf8"
    try:
        chunk.decode()
    except UnicodeDecodeError:
        encoding = "utf8-lossy"
        for i, (start, end) in enumerate(zip(starts, ends, strict=True)):
            try:
                chunk[start:end].decode()
            except UnicodeDecodeError:
                faults[i] = "is not valid UTF-8 (save the file as UTF-8)"
    if b"\0" in chunk:  # PostgreSQL stores no NUL in text
        for i in np.searchsorted(ends, np.flatnonzero(data == 0)):
            faults[i] = faults[i] or "contains a NUL character (\\0), which cannot be stored"
    schema = {f"c{i}": pl.String for i in range(width)}
    try:
        frame = pl.read_csv(
            chunk,
            has_header=False,
            separator=delimiter,
            schema=schema,
            truncate_ragged_lines=True,
            missing_columns="insert",
            empty_string_is_null=False,
            encoding=encoding,
        )
    except pl.exceptions.ComputeError:
        frame = pl.DataFrame()
    if frame.height != len(starts):
        return _parse_slowly(chunk, width, delimiter)
    extra = pl.DataFrame({"fields": fields, "fault": faults}, schema_overrides={"fault": pl.String})
    return pl.concat([frame, extra], how="horizontal"), lines


def _parse_slowly(chunk: bytes, width: int, delimiter: str) -> tuple[pl.DataFrame, np.ndarray]:
    """``_parse`` by Python's CSV reader (for chunks polars reads otherwise)."""
    text = chunk.decode("utf-8", errors="surrogateescape")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[list[str]] = []
    lines: list[int] = []
    faults: list[str | None] = []
    while True:
        before = reader.line_num
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            row = [f"{exc}"]
            faults.append(f"the CSV is malformed here ({exc})")
        else:
            faults.append(_fault("".join(row)))
            if faults[-1] is not None:  # (polars takes no unpaired surrogates)
                row = [c.encode(errors="surrogateescape").decode(errors="replace") for c in row]
        rows.append(row)
        lines.append(before)
    columns = {f"c{i}": [row[i] if i < len(row) else "" for row in rows] for i in range(width)}
    frame = pl.DataFrame(columns, schema={name: pl.String for name in columns}).with_columns(
        fields=pl.Series([len(row) for row in rows], dtype=pl.Int64),
        fault=pl.Series(faults, dtype=pl.String),
    )
    return frame, np.array(lines, dtype=np.int64)


def _fault(cells: str) -> str | None:
    try:
        cells.encode()
    except UnicodeEncodeError:
        return "is not valid UTF-8 (save the file as UTF-8)"
    return "contains a NUL character (\\0), which cannot be stored" if "\0" in cells else None
