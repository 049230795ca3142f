"""`careloop demo-data`: the demo customers, conversations and staff logins."""

from __future__ import annotations

from typing import Annotated

import typer

from app.cli.common import chat_lines, fail, load_settings


def demo_data(
    customers: Annotated[int, typer.Option(min=1, max=100_000, help="How many customers.")] = 300,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same data).")] = 7,
) -> None:
    """Seed demo customers, orders, conversations and the demo staff logins (idempotent)."""
    from crm.db import create_db_engine, create_session_factory, session_scope
    from crm.demo import seed_demo_data

    settings = load_settings()
    if settings.env.value == "production":
        raise fail("refusing to create demo data (and demo passwords) in production")
    engine = create_db_engine(settings.effective_database_url)
    with session_scope(create_session_factory(engine)) as session:
        summary = seed_demo_data(session, settings=settings, customers=customers, seed=seed)
    if not summary.skipped:  # segments, CLV and churn risk for the inbox and audiences
        from crm.scoring.service import score_customers

        with session_scope(create_session_factory(engine)) as session:
            score_customers(session, settings)
    engine.dispose()
    if summary.skipped:
        typer.echo("demo data already present: nothing added")
    else:
        typer.echo(
            f"demo data: {summary.customers} customers, {summary.orders} orders, "
            f"{summary.conversations} conversations, {summary.surveys} surveys"
        )
    typer.echo("demo logins (role, email, password):")
    for role, email, password in summary.users:
        typer.echo(f"  {role:<9} {email:<26} {password}")
    if summary.web_sessions:
        typer.echo("demo web chats (the same links on every run):")
        for line in chat_lines(f"http://{settings.host}:{settings.port}", summary.web_sessions):
            typer.echo(line)
