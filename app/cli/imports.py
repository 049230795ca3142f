"""`careloop import`: customers and orders from CSV."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from app.cli.common import fail, load_settings
from careloop.errors import AppError
from crm.imports.columns import DATE_FORMATS, DELIMITERS, delimiter_name
from crm.imports.columns import describe as describe_columns

IMPORT_HELP = f"""Import customers or orders from CSV: validated, de-duplicated, idempotent.

A UTF-8 file with a header row; its delimiter (comma, semicolon, tab or pipe) is found
from the header line, or given with --delimiter. Columns are found by header name (case,
spaces and dashes do not matter); other columns are listed as ignored. Rows are
checked whole: a rejected row names all that is wrong with it, by line number.

Customers (at least one of customer id, email, phone):

{describe_columns("customers")}

Orders:

{describe_columns("orders")}

Dates: {DATE_FORMATS}.

Exit status: 0 when every row was imported; 3 when some rows were rejected (the others
are imported), unless --allow-rejects; 1 when the file was refused as a whole."""


REJECTED_EXIT_CODE = 3


_DELIMITER_NAMES = {name: delimiter for delimiter, name in DELIMITERS.items()}


def import_cmd(
    kind: Annotated[str, typer.Argument(help="customers or orders")],
    file: Annotated[Path, typer.Argument(help="CSV file (UTF-8, header row).")],
    report_file: Annotated[
        Path | None, typer.Option("--report", help="Also write the full report as JSON here.")
    ] = None,
    delimiter: Annotated[
        str | None,
        typer.Option(
            help="comma, semicolon, tab or pipe (or the character); found from the header "
            "line when not given."
        ),
    ] = None,
    allow_rejects: Annotated[
        bool,
        typer.Option(
            "--allow-rejects", help="Exit with status 0 even when some rows were rejected."
        ),
    ] = False,
) -> None:
    from crm.db import create_db_engine, create_session_factory
    from crm.imports.service import import_file

    settings = load_settings()
    if kind not in ("customers", "orders"):
        raise fail(f"can import customers or orders, not {kind!r}", 2)
    if delimiter is not None:
        delimiter = _DELIMITER_NAMES.get(delimiter.lower(), delimiter)
        if delimiter not in DELIMITERS:
            raise fail("--delimiter is comma, semicolon, tab or pipe", 2)
    if not file.is_file():
        raise fail(f"{file}: no such file")
    engine = create_db_engine(settings.effective_database_url)
    started = time.perf_counter()
    try:
        with typer.progressbar(length=file.stat().st_size, label=f"importing {kind}") as bar:
            report = import_file(
                create_session_factory(engine),
                kind,
                file,
                default_region=settings.import_default_region,
                progress=bar.update,
                delimiter=delimiter,
            )
    except AppError as exc:
        raise fail(f"{file}: {exc.message}") from None
    finally:
        engine.dispose()
    elapsed = time.perf_counter() - started
    blank = (
        f", {report.blank_lines} blank line{'s' if report.blank_lines != 1 else ''} skipped"
        if report.blank_lines
        else ""
    )
    typer.echo(
        f"{report.rows} rows in {elapsed:.1f} s: {report.accepted} accepted "
        f"({report.created} new, {report.updated} updated, {report.unchanged} unchanged), "
        f"{report.merged} merged, {report.rejected_count} rejected{blank}"
    )
    if report.delimiter != ",":
        typer.echo(f"read as {delimiter_name(report.delimiter)}-separated")
    if report.ignored_columns:
        typer.echo(f"ignored columns: {', '.join(report.ignored_columns)}")
    _listed("merged", report.merges, report.merged, "merged into ")
    _listed("rejected", report.rejected, report.rejected_count)
    if report_file is not None:
        report_file.write_text(json.dumps(report.as_dict(), indent=2))
    if report.rejected_count and not allow_rejects:
        typer.secho(
            f"{report.rejected_count} row(s) rejected: exit status {REJECTED_EXIT_CODE} "
            "(--allow-rejects accepts that)",
            err=True,
            fg=typer.colors.YELLOW,
        )
        raise typer.Exit(REJECTED_EXIT_CODE)


def _listed(what: str, items: list[tuple[int, str]], total: int, prefix: str = "") -> None:
    """The first 20 of a report's rows, by line ("line 7: ..."), and how many more."""
    if not items:
        return
    typer.echo(f"{what}:")
    for line, text in items[:20]:
        typer.echo(f"  line {line}: {prefix}{text}")
    if total > 20:
        typer.echo(f"  … and {total - 20} more (see --report)")
