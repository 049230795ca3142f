"""What an import did: rows read, created, updated, unchanged, merged and rejected."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MAX_REPORTED = 1000  # rejections and merges listed (all are counted)


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
        if len(self.rejected) < MAX_REPORTED:
            self.rejected.append((line, reason))

    def merge(self, line: int, into: str) -> None:
        """The row on ``line`` was merged ``into`` a customer or order (words for it)."""
        self.merged += 1
        if len(self.merges) < MAX_REPORTED:
            self.merges.append((line, into))

    def as_dict(self) -> dict[str, Any]:
        data = {f: getattr(self, f) for f in self.__dataclass_fields__} | {
            "accepted": self.accepted,
            "rejected": self.rejected_count,
            "rejections": [{"line": line, "reason": reason} for line, reason in self.rejected],
            "merges": [{"line": line, "into": into} for line, into in self.merges],
        }
        del data["rejected_count"]
        return data
