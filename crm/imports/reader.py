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
_READ: dict[str, Any] = {"has_header": False, "truncate_ragged_lines": True}
_READ |= {"missing_columns": "insert", "empty_string_is_null": False}  # (numpy counts)
_NAMES = "comma, semicolon, tab or pipe"
_NUL = "contains a NUL character (\\0), which cannot be stored"


def sniff_delimiter(header_line: str) -> str:
    """The delimiter of a file with this header line: of comma, semicolon, tab and pipe,
    the one that splits it into the most columns (quotes respected); a comma on a tie (a
    single column). (Not ``csv.Sniffer``: docs/import.md says why.)"""
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
    carry: bytes = b""  # read, but not in a piece yet

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
        width = len(self.header)
        cells = [
            pl.col(f"c{mapping[f]}").str.strip_chars() if f in mapping else pl.lit("")
            for f in fields
        ]
        wrong = pl.format(f"has {{}} fields, the header has {width}", "fields")
        for frame, lines in self._frames(width):
            blank = pl.concat_str(pl.col(f"c{i}") for i in range(width)).str.contains(r"^\s*$")
            fault = pl.when(pl.col("fields").is_in([0, width])).then("fault").otherwise(wrong)
            blank &= pl.col("fault").is_null()  # (a record the CSV reader refused)
            frame = frame.with_columns(line=lines, fault=fault, blank=blank)
            kept = frame.filter(~pl.col("blank"))
            kept = kept.select(
                "line", "fault", *(c.alias(f) for c, f in zip(cells, fields, strict=True))
            )
            for start in range(0, max(kept.height, 1), rows):
                yield kept.slice(start, rows), frame.height - kept.height if not start else 0

    def _frames(self, width: int) -> Iterator[tuple[pl.DataFrame, np.ndarray]]:
        """Pieces of the file as cells, and the line each record starts on. From a piece
        that polars reads otherwise than the quotes were counted (a quote inside an
        unquoted cell) on, Python's CSV reader reads the rest of the file."""
        line = 2
        for chunk in self._chunks():
            parsed = _parse(chunk, width, self.delimiter)
            if parsed is None:
                yield from self._read_slowly(chunk + self.carry, line, width)
                return
            yield parsed[0], parsed[1] + line
            line += chunk.count(b"\n") + chunk.count(b"\r") - chunk.count(b"\r\n")

    def _read_slowly(
        self, head: bytes, line: int, width: int
    ) -> Iterator[tuple[pl.DataFrame, np.ndarray]]:
        """``head`` and the rest of the file by Python's CSV reader (``line``: where
        ``head`` starts), 100,000 records at a time."""
        text = io.TextIOWrapper(
            io.BufferedReader(_Rest(head, self)), errors="surrogateescape", newline=""
        )
        reader, records = csv.reader(text, delimiter=self.delimiter), []
        while True:
            start = line + reader.line_num
            try:
                row, fault = next(reader), None
            except StopIteration:
                break
            except csv.Error as exc:
                row, fault = [], f"the CSV is malformed here ({exc})"
            cells = "".join(row).encode(errors="surrogateescape")
            if not _utf8(cells):
                fault = _NOT_UTF8
                row = [c.encode(errors="surrogateescape").decode(errors="replace") for c in row]
            records.append((start, row, fault or (_NUL if b"\0" in cells else None)))
            if len(records) == 100_000:
                yield _frame(records, width)
                records = []
        if records:
            yield _frame(records, width)

    def _chunks(self) -> Iterator[bytes]:
        """The rest of the stream in pieces of whole records, each ending with a newline
        (one with an unclosed quote ends at a line break once it grows too long)."""
        self.carry = b""
        while block := self.read(self.chunk_bytes):
            data = self.carry + block
            ends = _record_ends(np.frombuffer(data, np.uint8))
            cut = int(ends[-1]) + 1 if len(ends) else 0
            if not cut and len(data) > 4 * self.chunk_bytes:
                cut = data.rfind(b"\n") + 1
            self.carry = data[cut:]
            if cut:
                yield data[:cut]
        last, self.carry = self.carry, b""
        if last:
            yield last if last.endswith(b"\n") else last + b"\n"

    def read(self, size: int) -> bytes:
        block = self.raw.read(size)
        if self.progress:
            self.progress(len(block))
        return block


def _record_ends(data: np.ndarray) -> np.ndarray:
    """The positions of the newlines that end a record (not inside quotes)."""
    newlines, quotes = np.flatnonzero(data == 10), np.flatnonzero(data == 34)
    ends: np.ndarray = newlines[np.searchsorted(quotes, newlines) % 2 == 0]
    return ends


def _parse(chunk: bytes, width: int, delimiter: str) -> tuple[pl.DataFrame, np.ndarray] | None:
    """The chunk's records as ``c0``.. (text), ``fields`` (how many the record has) and
    ``fault`` (not UTF-8, a NUL), and the line each starts on (from 0). Record bounds,
    field counts and lines come from where the newlines, quotes and delimiters are
    (numpy); polars reads the cells. None where the two disagree."""
    data = np.frombuffer(chunk, np.uint8)
    ends, quotes = _record_ends(data), np.flatnonzero(data == 34)
    starts, seps = np.concatenate(([0], ends[:-1] + 1)), np.flatnonzero(data == ord(delimiter))
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
        return None
    fields = np.searchsorted(seps, ends) - np.searchsorted(seps, starts) + 1
    extra = pl.DataFrame({"fields": fields, "fault": pl.Series(faults, dtype=pl.String)})
    return pl.concat([frame, extra], how="horizontal"), np.searchsorted(breaks, starts)


def _utf8(data: bytes) -> bool:
    return data.decode(errors="replace").encode() == data


def _frame(
    records: list[tuple[int, list[str], str | None]], width: int
) -> tuple[pl.DataFrame, np.ndarray]:
    """Records (line, cells, fault) as ``_parse`` gives them."""
    columns = [[r[i] if i < len(r) else "" for _, r, _ in records] for i in range(width)]
    frame = pl.DataFrame(columns, schema={f"c{i}": pl.String for i in range(width)}, orient="col")
    frame = frame.with_columns(
        fields=pl.Series([len(r) for _, r, _ in records], dtype=pl.Int64),
        fault=pl.Series([f for _, _, f in records], dtype=pl.String),
    )
    return frame, np.array([line for line, _, _ in records], dtype=np.int64)


class _Rest(io.RawIOBase):
    """``head``, then the rest of the file's stream."""

    def __init__(self, head: bytes, source: CsvFile) -> None:
        self.head, self.source = head, source

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.head[: len(buffer)] or self.source.read(len(buffer))
        self.head = self.head[len(data) :] if self.head else b""
        buffer[: len(data)] = data
        return len(data)
