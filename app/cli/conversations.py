"""`careloop conversations ...`: the bot quality report and the export."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from app.cli.common import fail, load_settings, open_session

conversations_app = typer.Typer(
    help="Conversations: bot quality report and export.", no_args_is_help=True
)


def _quality_filters(
    start: str | None, end: str | None, team: int | None, agent: int | None, segment: str | None
) -> Any:
    import datetime as dt

    from careloop.errors import ValidationFailed
    from crm.conversations import quality
    from crm.db import utcnow

    try:
        last = dt.date.fromisoformat(end) if end else utcnow().date()
        first = dt.date.fromisoformat(start) if start else last - dt.timedelta(days=29)
        return quality.Filters(first, last, team_id=team, agent_id=agent, segment=segment)
    except ValueError as exc:
        raise fail(f"--start/--end: {exc}", 2) from None
    except ValidationFailed as exc:
        raise fail(exc.message, 2) from None


StartOpt = Annotated[str | None, typer.Option(help="first day, YYYY-MM-DD (30 days ago)")]


EndOpt = Annotated[str | None, typer.Option(help="last day, included (today)")]


TeamOpt = Annotated[int | None, typer.Option(help="only this team (id)")]


AgentOpt = Annotated[int | None, typer.Option(help="only this agent (user id)")]


SegmentOpt = Annotated[str | None, typer.Option(help="only this RFM segment (at the start)")]


@conversations_app.command("export")
def conversations_export(
    start: StartOpt = None,
    end: EndOpt = None,
    team: TeamOpt = None,
    agent: AgentOpt = None,
    segment: SegmentOpt = None,
    format: Annotated[str, typer.Option(help="csv or jsonl")] = "csv",
    out: Annotated[Path | None, typer.Option(help="write here instead of stdout")] = None,
) -> None:
    """One row per conversation (channel, segment/CLV/churn at the time, intents, sentiment,
    escalation, team, agent, response and resolution times, SLA, CSAT, campaign), streamed."""
    from crm.conversations import quality

    if format not in ("csv", "jsonl"):
        raise fail("--format is csv or jsonl", 2)
    filters = _quality_filters(start, end, team, agent, segment)
    settings = load_settings()
    write = quality.export_csv if format == "csv" else quality.export_jsonl
    with open_session(settings) as session:
        if out is None:
            for piece in write(session, filters):
                sys.stdout.write(piece)
            return
        with out.open("w", encoding="utf-8", newline="") as handle:
            for piece in write(session, filters):
                handle.write(piece)
    typer.echo(f"wrote {out}", err=True)


@conversations_app.command("quality")
def conversations_quality(
    start: StartOpt = None,
    end: EndOpt = None,
    team: TeamOpt = None,
    agent: AgentOpt = None,
    segment: SegmentOpt = None,
) -> None:
    """Containment, handoffs by intent and reason, not-sure rate, corrected intents, CSAT
    bot vs human, response/resolution time buckets and SLA hit rates, as JSON."""
    from crm.conversations import quality

    filters = _quality_filters(start, end, team, agent, segment)
    settings = load_settings()
    with open_session(settings) as session:
        typer.echo(json.dumps(quality.report(session, filters), indent=2))
