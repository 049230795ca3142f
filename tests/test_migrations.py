"""Migrations build the whole schema from empty, match the models, and go back down."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

import crm.models  # noqa: F401
from crm.db import Base, create_db_engine
from crm.migrate import current_revision, downgrade, head_revision, upgrade
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
