"""The ``careloop`` command line: the root command and one module per sub-command group."""

from __future__ import annotations

import os

import typer

from app.cli import (
    campaigns,
    conversations,
    customers,
    db,
    demo,
    imports,
    nlu,
    scoring,
    serve,
    telegram,
    users,
)

app = typer.Typer(
    help="careloop: chat-based customer service with a CRM inside.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(db.db_app, name="db")
app.add_typer(nlu.nlu_app, name="nlu")
app.add_typer(telegram.telegram_app, name="telegram")
app.add_typer(customers.customer_app, name="customer")
app.add_typer(scoring.churn_app, name="churn")
app.add_typer(campaigns.campaigns_app, name="campaigns")
app.add_typer(conversations.conversations_app, name="conversations")
app.add_typer(users.users_app, name="users")
app.command()(serve.serve)
app.command("bot")(serve.bot_cmd)
app.command("demo-data")(demo.demo_data)
app.command("import", help=imports.IMPORT_HELP)(imports.import_cmd)
app.command("score")(scoring.score_cmd)
app.command("create-user")(users.create_user_cmd)
app.command("create-token")(users.create_token_cmd)


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    app()
