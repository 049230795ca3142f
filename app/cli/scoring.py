"""`careloop score` and `careloop churn ...`: RFM, lifetime value and churn risk."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from app.cli.common import fail, load_settings, open_session
from careloop.errors import AppError


def score_cmd() -> None:
    """Score every customer: RFM segment, lifetime value and churn risk with reasons."""
    from crm.scoring.rfm import SEGMENT_NAMES
    from crm.scoring.service import score_customers

    settings = load_settings()
    with (
        open_session(settings) as session,
        typer.progressbar(length=3, label="scoring (RFM, CLV, churn)") as bar,
    ):
        rfm, clv, churn = score_customers(session, settings, progress=lambda _: bar.update(1))
    typer.echo(f"RFM: {rfm.customers} customers scored in {rfm.seconds:.1f} s")
    for name in SEGMENT_NAMES:
        if rfm.segments.get(name):
            typer.echo(f"  {name:<20} {rfm.segments[name]}")
    typer.echo(
        f"CLV over {settings.clv_horizon_days} days: {clv.customers} customers, "
        f"{clv.method}, {clv.seconds:.1f} s"
    )
    if clv.beta_geo is not None:
        bg = clv.beta_geo
        typer.echo(f"  BG/NBD r={bg.r:.3f} alpha={bg.alpha:.2f} a={bg.a:.3f} b={bg.b:.3f}")
    if clv.gamma_gamma is not None:
        gg = clv.gamma_gamma
        typer.echo(f"  Gamma-Gamma p={gg.p:.3f} q={gg.q:.3f} v={gg.v:.2f}")
    for note in clv.notes:
        typer.echo(f"  {note}")
    if churn.skipped:
        typer.echo(f"churn: not scored ({churn.skipped})")
    else:
        typer.echo(
            f"churn over {settings.churn_horizon_days} days: {churn.customers} customers, "
            f"trained on {churn.trained_on} (churn rate {churn.churn_rate:.1%}, out-of-fold "
            f"AUC {churn.auc_out_of_fold:.3f}), {churn.changes} level changes, "
            f"{churn.seconds:.1f} s"
        )
        for level in ("high", "medium", "low"):
            typer.echo(f"  {level:<7} {churn.levels.get(level, 0)}")


churn_app = typer.Typer(help="Churn models: evaluate on any customer table.", no_args_is_help=True)


@churn_app.command("evaluate")
def churn_evaluate(
    data: Annotated[Path, typer.Option(help="Customer table (CSV with a header row).")],
    target: Annotated[str, typer.Option(help="The column that says whether they churned.")],
    id_column: Annotated[
        str | None, typer.Option("--id", help="An id column to leave out of the features.")
    ] = None,
    folds: Annotated[int, typer.Option(min=2, max=20, help="Cross-validation folds.")] = 5,
) -> None:
    """Cross-validate careloop's churn model on any table: one JSON object with the
    out-of-fold auc, brier score, calibration (predicted against observed churn in ten
    groups by probability, and the expected calibration error), accuracy and the top
    features."""
    from crm.scoring.tabular import cross_validate, read_table

    load_settings()
    started = time.perf_counter()
    try:
        table = read_table(data, target, id_column)
        result = cross_validate(table, folds=folds)
    except AppError as exc:
        raise fail(exc.message) from None
    result["seconds"] = round(time.perf_counter() - started, 1)
    typer.echo(json.dumps(result, indent=2))
