"""`careloop db ...`: the database schema (Alembic migrations)."""

from __future__ import annotations

from typing import Annotated

import typer

from app.cli.common import load_settings, safe_url

db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Create or migrate the database schema (to the latest revision by default)."""
    from migrations.runner import upgrade

    settings = load_settings()
    url = settings.effective_database_url
    typer.echo(f"migrating {safe_url(url)} to {revision}")
    upgrade(url, revision)
    typer.echo("database is up to date")


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision, e.g. base.")],
) -> None:
    """Step the schema back to an older revision."""
    from migrations.runner import downgrade

    settings = load_settings()
    downgrade(settings.effective_database_url, revision)
    typer.echo(f"database downgraded to {revision}")


@db_app.command("current")
def db_current() -> None:
    """Print the schema revision of the database and the one the code expects."""
    from crm.db import create_db_engine
    from migrations.runner import current_revision, head_revision

    settings = load_settings()
    engine = create_db_engine(settings.effective_database_url)
    try:
        typer.echo(f"database: {current_revision(engine) or 'empty'}  code: {head_revision()}")
    finally:
        engine.dispose()
