"""Integers taken from URLs, headers and bodies, bounded to what the databases store.

Python's ``int`` has no limit, but SQLite and PostgreSQL store 64-bit integers: an id of
2**64 used to reach the database and come back as a 500 or a fake 503 outage. These types
make FastAPI answer 422 first, and say the bounds in the OpenAPI document.
"""

from __future__ import annotations

from typing import Annotated

from annotated_types import Ge, Le

from crm.schemas import MAX_ID, RowId

__all__ = ["MAX_DB_INT", "Count", "Cursor", "RowId"]

MAX_DB_INT = 2**63 - 1  # BIGINT and SQLite's INTEGER

# RowId (path ids, ``team_id`` filters, ids in bodies) is the domain's own type: the id
# columns are 32-bit on PostgreSQL, so 1 .. MAX_ID.

Cursor = Annotated[int, Ge(0), Le(MAX_ID)]
"""A position: "after this id" (0: from the start) or an offset."""

Count = Annotated[int, Ge(0), Le(MAX_DB_INT)]
"""A number of things (days, messages) that the database stores."""
