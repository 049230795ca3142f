"""`careloop campaigns ...`: retention campaigns: run, send and report."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Annotated, Any

import typer

from app.cli.common import fail, load_settings, open_session, require_migrated
from careloop.config import Settings

campaigns_app = typer.Typer(help="Retention campaigns: run, send and report.", no_args_is_help=True)


@campaigns_app.command("list")
def campaigns_list() -> None:
    """Every campaign with its status, channel and schedule."""
    from crm.campaigns import service

    settings = load_settings()
    with open_session(settings) as session:
        for c in service.list_campaigns(session):
            typer.echo(
                f"{c.id:>5}  {c.status.value:<9}  {c.channel.value:<8}  "
                f"{c.schedule_kind.value:<9}  {c.name}"
            )


@campaigns_app.command("run")
def campaigns_run(campaign_id: Annotated[int, typer.Argument(help="campaign id")]) -> None:
    """Plan a scheduled campaign's run now (audience, control group, guards, outbox)."""
    from crm.campaigns import service

    settings = load_settings()
    with open_session(settings) as session:
        campaign = service.get_campaign(session, campaign_id)
        result = service.run_once(session, campaign, settings)
    typer.echo(json.dumps(result.as_dict()))


@campaigns_app.command("triggers")
def campaigns_triggers() -> None:
    """Plan what fired the active triggered campaigns since their last sweep."""
    from crm.campaigns import runs

    settings = load_settings()
    with open_session(settings) as session:
        results = runs.run_triggers(session, settings)
    typer.echo(json.dumps([r.as_dict() for r in results]))


@campaigns_app.command("send")
def campaigns_send(
    timeout: Annotated[float, typer.Option(help="give up after this many seconds")] = 3600.0,
) -> None:
    """Send every due campaign message now (guards checked) and exit: web chat messages are
    queued for the chat, Telegram ones delivered within the rate limits."""
    settings = load_settings()
    require_migrated(settings)
    stats = asyncio.run(_send_campaigns(settings, timeout))
    typer.echo(json.dumps(stats))


async def _send_campaigns(settings: Settings, timeout: float) -> dict[str, Any]:
    from app.compose import campaign_sender
    from crm.campaigns import dispatch
    from crm.db import create_db_engine, create_session_factory, session_scope

    engine = create_db_engine(settings.effective_database_url)
    factory = create_session_factory(engine)
    totals: dict[str, Any] = {"queued": 0, "deferred": 0, "skipped": {}}
    deadline = time.monotonic() + timeout
    try:
        async with campaign_sender(settings, factory) as sender:
            try:
                if sender is not None:
                    await sender.release_stale()
                while time.monotonic() < deadline:
                    with session_scope(factory) as session:
                        result = dispatch.dispatch(session, settings)
                    totals["queued"] += result.queued
                    totals["deferred"] += result.deferred
                    for reason, n in result.skipped.items():
                        totals["skipped"][reason] = totals["skipped"].get(reason, 0) + n
                    if sender is not None:
                        await sender.drain(timeout=max(1.0, deadline - time.monotonic()))
                    if not result.queued and not result.skipped:
                        break
            finally:
                if sender is not None:
                    totals["telegram"] = dict(sender.stats)
    finally:
        engine.dispose()
    return totals


@campaigns_app.command("report")
def campaigns_report(
    campaign_id: Annotated[int, typer.Argument(help="campaign id")],
    format: Annotated[str, typer.Option(help="json or csv")] = "json",
) -> None:
    """The campaign's report: sizes, delivered, skipped by reason, uplift with 95 % CI, ROI."""
    from crm.campaigns import report, service

    if format not in ("json", "csv"):
        raise fail("--format is json or csv", 2)
    settings = load_settings()
    with open_session(settings) as session:
        data = report.campaign_report(session, service.get_campaign(session, campaign_id))
    typer.echo(report.report_csv(data) if format == "csv" else json.dumps(data, indent=2))
