"""SQLite: enum CHECK constraints as chains of equalities instead of IN lists

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23 08:00:00

SQLite evaluates ``status IN ('placed', 'paid', ...)`` by building a temporary index of the
list each time a statement runs, so a bulk insert (one executemany) pays it on every row:
about 3 µs, a third of what inserting an order costs. ``status = 'placed' OR status =
'paid' OR ...`` is the same constraint without that cost. CHECK constraints are not
stored in the table's pages, only in its CREATE TABLE text, so SQLite's documented
procedure for changing constraints without rebuilding the table applies (edit the text in
``sqlite_schema`` under ``writable_schema``, bump ``schema_version``): no table is copied,
whatever its size. PostgreSQL evaluates IN lists cheaply; its constraints stay as they are.
"""

import re
from collections.abc import Callable, Sequence

from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_VALUE = r"'[^']*'"
_IN_LIST = re.compile(rf'CHECK \((?P<col>"?\w+"?) IN \((?P<values>{_VALUE}(?:, {_VALUE})*)\)\)')
_OR_CHAIN = re.compile(rf'CHECK \((?P<col>"?\w+"?) = {_VALUE}(?: OR (?P=col) = {_VALUE})+\)')


def _or_chain(match: re.Match[str]) -> str:
    column, values = match["col"], re.findall(_VALUE, match["values"])
    return "CHECK (" + " OR ".join(f"{column} = {value}" for value in values) + ")"


def _in_list(match: re.Match[str]) -> str:
    column, values = match["col"], re.findall(_VALUE, match[0])
    return f"CHECK ({column} IN ({', '.join(values)}))"


def _rewrite(pattern: re.Pattern[str], replace: Callable[[re.Match[str]], str]) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    connection = op.get_bind().connection.dbapi_connection
    assert connection is not None
    cursor = connection.cursor()
    try:
        tables = cursor.execute(
            "SELECT name, sql FROM sqlite_schema WHERE type = 'table' AND sql LIKE '%CHECK (%'"
        ).fetchall()
        rewritten = {name: (sql, pattern.sub(replace, sql)) for name, sql in tables}
        changed = {name: new for name, (old, new) in rewritten.items() if new != old}
        if not changed:
            return
        version = cursor.execute("PRAGMA schema_version").fetchone()[0]
        cursor.execute("PRAGMA writable_schema = ON")
        try:
            for name, sql in changed.items():
                cursor.execute(
                    "UPDATE sqlite_schema SET sql = ? WHERE type = 'table' AND name = ?",
                    (sql, name),
                )
            cursor.execute(f"PRAGMA schema_version = {int(version) + 1}")
        finally:
            cursor.execute("PRAGMA writable_schema = OFF")
    finally:
        cursor.close()


def upgrade() -> None:
    _rewrite(_IN_LIST, _or_chain)


def downgrade() -> None:
    _rewrite(_OR_CHAIN, _in_list)
