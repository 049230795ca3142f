"""The ``careloop`` command line."""

from __future__ import annotations

import getpass
import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from careloop.config import Settings, get_settings
from careloop.errors import AppError
from careloop.logs import configure_logging

app = typer.Typer(
    help="careloop: chat-based customer service with a CRM inside.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
nlu_app = typer.Typer(help="Train, evaluate and try the NLU models.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(nlu_app, name="nlu")


def _settings() -> Settings:
    settings = get_settings()
    configure_logging(settings.log_level)
    return settings


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default from settings).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from settings).")] = None,
    scheduler: Annotated[bool, typer.Option(help="Run the scheduler in this process.")] = True,
) -> None:
    """Run the web server with the bot, the inbox pages and the scheduler."""
    import uvicorn

    from crm.db import create_db_engine
    from crm.migrate import current_revision, head_revision
    from web.app import create_app

    settings = _settings()
    settings = settings.model_copy(
        update={"host": host or settings.host, "port": port or settings.port}
    )
    engine = create_db_engine(settings.effective_database_url)
    try:
        current = current_revision(engine)
    finally:
        engine.dispose()
    if current != head_revision():
        raise _fail(
            f"database schema is at {current or 'nothing'}, code expects {head_revision()}: "
            "run `careloop db upgrade` first"
        )
    base = f"http://{settings.host}:{settings.port}"
    typer.echo(f"careloop on {base}  chat: {base}/chat  API docs: {base}/docs")
    uvicorn.run(
        create_app(settings, run_scheduler=scheduler),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
    )


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Create or migrate the database schema (to the latest revision by default)."""
    from crm.migrate import upgrade

    settings = _settings()
    url = settings.effective_database_url
    typer.echo(f"migrating {_safe_url(url)} to {revision}")
    upgrade(url, revision)
    typer.echo("database is up to date")


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision, e.g. base.")],
) -> None:
    """Step the schema back to an older revision."""
    from crm.migrate import downgrade

    settings = _settings()
    downgrade(settings.effective_database_url, revision)
    typer.echo(f"database downgraded to {revision}")


@db_app.command("current")
def db_current() -> None:
    """Print the schema revision of the database and the one the code expects."""
    from crm.db import create_db_engine
    from crm.migrate import current_revision, head_revision

    settings = _settings()
    engine = create_db_engine(settings.effective_database_url)
    try:
        typer.echo(f"database: {current_revision(engine) or 'empty'}  code: {head_revision()}")
    finally:
        engine.dispose()


@app.command("demo-data")
def demo_data(
    customers: Annotated[int, typer.Option(min=1, max=100_000, help="How many customers.")] = 300,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same data).")] = 7,
) -> None:
    """Seed demo customers, orders, conversations and the demo staff logins (idempotent)."""
    from crm.db import create_db_engine, create_session_factory, session_scope
    from crm.demo import seed_demo_data

    settings = _settings()
    if settings.env.value == "production":
        raise _fail("refusing to create demo data (and demo passwords) in production")
    engine = create_db_engine(settings.effective_database_url)
    with session_scope(create_session_factory(engine)) as session:
        summary = seed_demo_data(session, customers=customers, seed=seed)
    engine.dispose()
    if summary.skipped:
        typer.echo("demo data already present: nothing added")
    else:
        typer.echo(
            f"demo data: {summary.customers} customers, {summary.orders} orders, "
            f"{summary.conversations} conversations"
        )
    typer.echo("demo logins (role, email, password):")
    for role, email, password in summary.users:
        typer.echo(f"  {role:<9} {email:<26} {password}")
    if summary.web_sessions:
        base = f"http://{settings.host}:{settings.port}"
        typer.echo("web chat as a known customer with orders:")
        for sid in summary.web_sessions[:3]:
            typer.echo(f"  {base}/chat?session={sid}")


@app.command("create-user")
def create_user_cmd(
    email: Annotated[str, typer.Option(help="Login email.")],
    role: Annotated[str, typer.Option(help="agent, marketer or admin.")],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    max_concurrent: Annotated[int, typer.Option(min=1, help="Agent capacity.")] = 5,
) -> None:
    """Create a staff account (the password is prompted for, or read with --password-stdin)."""
    from crm.db import create_db_engine, create_session_factory, session_scope
    from crm.models import Role
    from crm.users.service import create_user

    settings = _settings()
    try:
        role_value = Role(role)
    except ValueError:
        raise _fail(f"unknown role {role!r}; use agent, marketer or admin") from None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("repeat: ") != password:
            raise _fail("passwords do not match")
    engine = create_db_engine(settings.effective_database_url)
    try:
        with session_scope(create_session_factory(engine)) as session:
            user = create_user(
                session,
                email=email,
                password=password,
                role=role_value,
                display_name=name,
                max_concurrent=max_concurrent,
            )
            typer.echo(f"created {user.role.value} {user.email} (id {user.id})")
    except AppError as exc:
        raise _fail(exc.message) from None
    finally:
        engine.dispose()


@nlu_app.command("train")
def nlu_train(
    task: Annotated[str, typer.Option(help="intent or sentiment.")],
    data: Annotated[Path | None, typer.Option(help="YAML or text,label CSV file.")] = None,
) -> None:
    """Train a model and make it the active one (the server picks it up on restart)."""
    from bot.factory import nlu_config
    from nlp.dataset import DataError
    from nlp.encoder import SentenceEncoder
    from nlp.pipeline import train_task

    settings = _settings()
    _check_task(task)
    encoder = SentenceEncoder(settings.encoder_model or None)
    try:
        artifact = train_task(encoder, nlu_config(settings), task, data)
    except DataError as exc:
        raise _fail(str(exc)) from None
    typer.echo(json.dumps({"task": task, "version": artifact.version, **artifact.meta["metrics"]}))


@nlu_app.command("evaluate")
def nlu_evaluate(
    task: Annotated[str, typer.Option(help="intent or sentiment.")],
    train: Annotated[Path, typer.Option(help="Training CSV (text,label).")],
    test: Annotated[Path, typer.Option(help="Test CSV (text,label).")],
    oos_label: Annotated[
        str | None, typer.Option(help="Label that marks out-of-scope test rows.")
    ] = None,
) -> None:
    """Train on TRAIN and report accuracy and macro-F1 on TEST as one JSON object."""
    from nlp.dataset import DataError, load_examples
    from nlp.encoder import SentenceEncoder
    from nlp.evaluation import evaluate

    settings = _settings()
    _check_task(task)
    try:
        train_rows, test_rows = load_examples(train), load_examples(test)
    except DataError as exc:
        raise _fail(str(exc)) from None
    encoder = SentenceEncoder(settings.encoder_model or None)
    report = evaluate(
        encoder,
        train_rows,
        test_rows,
        oos_label=oos_label,
        threshold=settings.intent_threshold,
    )
    typer.echo(json.dumps(report))


@nlu_app.command("predict")
def nlu_predict(text: Annotated[str, typer.Argument(help="A customer message.")]) -> None:
    """Print the intent and sentiment of one message as JSON."""
    from bot.factory import nlu_config
    from nlp.encoder import SentenceEncoder
    from nlp.pipeline import load_nlu

    settings = _settings()
    nlu = load_nlu(SentenceEncoder(settings.encoder_model or None), nlu_config(settings))
    started = time.perf_counter()
    result = nlu.understand(text).as_dict()
    result["ms"] = round(1000 * (time.perf_counter() - started), 2)
    typer.echo(json.dumps(result))


def _check_task(task: str) -> None:
    if task not in ("intent", "sentiment"):
        raise _fail(f"unknown task {task!r}; use intent or sentiment", 2)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    app()
