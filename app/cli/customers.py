"""`careloop customer ...`: export or erase one customer's personal data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from app.cli.common import fail, load_settings, open_session

customer_app = typer.Typer(
    help="Personal data: export or erase one customer.", no_args_is_help=True
)


@customer_app.command("export")
def customer_export(
    customer_id: Annotated[int, typer.Argument(help="CRM customer id.")],
    output: Annotated[
        Path | None, typer.Option(help="Write the JSON here instead of standard output.")
    ] = None,
) -> None:
    """Everything careloop holds about one customer, as JSON (a subject access request)."""
    from crm.customers.profile import customer_export

    with open_session(load_settings()) as session:
        document = customer_export(session, customer_id)
    text = json.dumps(document, indent=2, ensure_ascii=False)
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")
        typer.echo(f"wrote {output}")


@customer_app.command("erase")
def customer_erase(
    customer_id: Annotated[int, typer.Argument(help="CRM customer id.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do it (there is no undo).")] = False,
) -> None:
    """Erase a customer's personal data; orders and survey scores stay as aggregates."""
    from crm.customers.privacy import erase_customer

    if not yes:
        raise fail("erasing cannot be undone: add --yes to confirm", 2)
    with open_session(load_settings()) as session:
        changed = erase_customer(session, customer_id)
    typer.echo(
        f"customer {customer_id} erased: {changed['messages']} messages blanked, "
        f"{changed['survey_comments']} survey comments and {changed['identities']} channel "
        "identities removed"
    )
