"""Migrations build the whole schema from empty, match the models, and go back down."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError

import crm.models  # noqa: F401
from crm.db import Base, create_db_engine
from migrations.runner import current_revision, downgrade, head_revision, upgrade
from tests.conftest import create_postgres_database, drop_postgres_database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    url, admin = create_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(admin, url)


def test_upgrade_from_empty_matches_models_and_downgrades(empty_url: str) -> None:
    upgrade(empty_url)
    engine = create_db_engine(empty_url)
    try:
        assert current_revision(engine) == head_revision()
        tables = set(inspect(engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
        with engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
            )
        # APScheduler's job store table is created by migration 0007 but owned by APScheduler.
        diff = [d for d in diff if "apscheduler_jobs" not in repr(d)]
        assert diff == [], f"models and migrations differ: {diff}"
        downgrade(empty_url, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        upgrade(empty_url)  # and up again
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_sqlite_enum_checks_are_chains_of_equalities_and_still_refuse(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'checks.db'}"
    upgrade(url)
    engine = create_db_engine(url)

    def orders_check() -> str:
        with engine.connect() as conn:
            sql = conn.exec_driver_sql(
                "SELECT sql FROM sqlite_schema WHERE name = 'orders'"
            ).scalar_one()
        return str(sql)

    try:
        assert "CHECK (status = 'placed' OR status = 'paid' OR " in orders_check()
        with engine.connect() as conn:
            tables = conn.exec_driver_sql("SELECT sql FROM sqlite_schema WHERE type = 'table'")
            assert not [sql for (sql,) in tables if sql and re.search(r"CHECK \(\S+ IN \(", sql)]
            conn.exec_driver_sql(
                "INSERT INTO customers (timezone, locale, tags, attributes, "
                "marketing_consent, id) VALUES ('UTC', 'en', '[]', '{}', 0, 1)"
            )
            insert = (
                "INSERT INTO orders (customer_id, ordered_at, status, total_amount, currency, "
                "items_count) VALUES (1, '2026-01-01 00:00:00', ?, 1, 'EUR', 1)"
            )
            conn.exec_driver_sql(insert, ("paid",))
            with pytest.raises(IntegrityError, match="CHECK constraint failed"):
                conn.exec_driver_sql(insert, ("lost",))
            conn.rollback()
        downgrade(url, "0010")  # back to SQLAlchemy's IN lists
        assert "CHECK (status IN ('placed', 'paid', 'shipped', " in orders_check()
        upgrade(url)
        assert "CHECK (status = 'placed' OR " in orders_check()
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
    finally:
        engine.dispose()
