"""The ``careloop`` command line."""

from __future__ import annotations

import asyncio
import getpass
import ipaddress
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from careloop.config import Settings, describe_settings_error, get_settings
from careloop.errors import AppError
from careloop.logs import configure_logging
from crm.imports.columns import DATE_FORMATS, DELIMITERS, delimiter_name
from crm.imports.columns import describe as describe_columns

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from crm.demo import DemoChat

app = typer.Typer(
    help="careloop: chat-based customer service with a CRM inside.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
nlu_app = typer.Typer(help="Train, evaluate and try the NLU models.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(nlu_app, name="nlu")
telegram_app = typer.Typer(
    help="Telegram: webhook registration and deep links.", no_args_is_help=True
)
app.add_typer(telegram_app, name="telegram")
customer_app = typer.Typer(
    help="Personal data: export or erase one customer.", no_args_is_help=True
)
app.add_typer(customer_app, name="customer")
churn_app = typer.Typer(help="Churn models: evaluate on any customer table.", no_args_is_help=True)
app.add_typer(churn_app, name="churn")
campaigns_app = typer.Typer(help="Retention campaigns: run, send and report.", no_args_is_help=True)
app.add_typer(campaigns_app, name="campaigns")
conversations_app = typer.Typer(
    help="Conversations: bot quality report and export.", no_args_is_help=True
)
app.add_typer(conversations_app, name="conversations")
users_app = typer.Typer(
    help="Staff accounts: list, disable, enable, change role, reset password.",
    no_args_is_help=True,
)
app.add_typer(users_app, name="users")


def _settings() -> Settings:
    from pydantic import ValidationError

    try:
        settings = get_settings()
    except ValidationError as exc:
        raise _fail(describe_settings_error(exc)) from None
    configure_logging(settings.log_level)
    return settings


@contextmanager
def _session(settings: Settings) -> Iterator[Session]:
    """One unit of work on the configured database; app errors end the command cleanly."""
    from crm.db import create_db_engine, create_session_factory, session_scope

    engine = create_db_engine(settings.effective_database_url)
    try:
        with session_scope(create_session_factory(engine)) as session:
            yield session
    except AppError as exc:
        raise _fail(exc.message) from None
    finally:
        engine.dispose()


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default from settings).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from settings).")] = None,
    scheduler: Annotated[bool, typer.Option(help="Run the scheduler in this process.")] = True,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=64,
            help="Worker processes (PostgreSQL only; default CARELOOP_WORKERS or 1).",
        ),
    ] = None,
) -> None:
    """Run the web server with the bot, the inbox pages and the scheduler; the URLs (and
    the demo logins and chats, where the demo data is) are printed once it answers.

    With --workers N, N processes share the port; each has its own NLU, database pool and
    event listener, one of them (the PostgreSQL advisory lock decides) runs the scheduler
    and sends Telegram messages. See docs/operations-workers.md."""
    from concurrent.futures import ThreadPoolExecutor

    import uvicorn

    from web.app import create_app
    from web.server import ReadyServer

    settings = _settings()
    settings = settings.model_copy(
        update={
            "host": host or settings.host,
            "port": port or settings.port,
            "workers": workers or settings.workers,
            "scheduler_enabled": scheduler and settings.scheduler_enabled,
        }
    )
    if settings.workers > 1:
        _check_workers(settings)
    _require_migrated(settings)
    if settings.workers > 1:
        # Each worker is a fresh process that builds its app from the environment
        # (uvicorn's app factory): what the options changed goes there first.
        os.environ.update(
            {
                "CARELOOP_HOST": settings.host,
                "CARELOOP_PORT": str(settings.port),
                "CARELOOP_WORKERS": str(settings.workers),
                "CARELOOP_SCHEDULER_ENABLED": "true" if settings.scheduler_enabled else "false",
            }
        )
        typer.echo(_banner(settings, settings.port, _demo_for_banner(settings)))
        typer.echo(f"starting {settings.workers} worker processes (each loads the models)")
        uvicorn.run(
            "web.app:app_from_environment",
            factory=True,
            workers=settings.workers,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level.lower(),
        )
        return
    typer.echo("careloop is starting (loading the models); the URLs follow when it answers")
    config = uvicorn.Config(
        create_app(settings, run_scheduler=scheduler),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
    )
    with ThreadPoolExecutor(max_workers=1) as pool:  # (password checks while models load)
        demo = pool.submit(_demo_for_banner, settings)
        ReadyServer(config, lambda port: typer.echo(_banner(settings, port, demo.result()))).run()


def _demo_for_banner(settings: Settings) -> tuple[list[tuple[str, str, str]], list[DemoChat]]:
    """The demo logins that still work and the demo chats, if the demo data is here."""
    from crm.demo import demo_chats, demo_logins

    if settings.env.value == "production":
        return [], []
    try:
        with _session(settings) as session:
            return demo_logins(session), demo_chats(session)
    except Exception:  # the banner goes without them; the server is what matters
        logging.getLogger(__name__).exception("cli.banner.demo_unreadable")
        return [], []


def _banner(
    settings: Settings, port: int, demo: tuple[list[tuple[str, str, str]], list[DemoChat]]
) -> str:
    """What `careloop serve` prints when it is ready: where to go, and the demo's way in."""
    try:
        everywhere = ipaddress.ip_address(settings.host).is_unspecified
    except ValueError:  # a host name
        everywhere = False
    base = f"http://{'127.0.0.1' if everywhere else settings.host}:{port}"
    lines = [
        f"careloop is ready on {base}"
        + (" (listening on all interfaces)" if everywhere else "")
        + "; Ctrl-C stops it",
        f"  home            {base}/",
        f"  customer chat   {base}/chat",
        f"  staff sign-in   {base}/login",
        f"  agents' inbox   {base}/inbox",
        f"  API docs        {base}/docs",
    ]
    logins, chats = demo
    if logins:
        lines.append("demo logins (role, email, password):")
        lines += [f"  {role:<9} {email:<26} {password}" for role, email, password in logins]
    if chats:
        lines.append("demo web chats:")
        lines += _chat_lines(base, chats)
    return "\n".join(lines)


def _check_workers(settings: Settings) -> None:
    """Several processes need PostgreSQL, and Telegram updates by webhook."""
    from sqlalchemy.engine import make_url

    if make_url(settings.effective_database_url).get_backend_name() != "postgresql":
        raise _fail(
            f"--workers {settings.workers} needs PostgreSQL: SQLite takes one writer at a "
            "time, so careloop serves it from one process (writers queue there). Run without "
            "--workers, or set CARELOOP_DATABASE_URL=postgresql+psycopg://..."
        )
    if settings.telegram_enabled and settings.telegram_mode.value == "polling":
        raise _fail(
            f"--workers {settings.workers} with Telegram needs CARELOOP_TELEGRAM_MODE=webhook: "
            "only one process may poll Telegram for updates"
        )


@app.command("bot")
def bot_cmd() -> None:
    """Run only the Telegram bot (long polling) and its sender, without the web server."""
    settings = _telegram_settings()
    if settings.telegram_mode.value == "webhook":
        raise _fail("CARELOOP_TELEGRAM_MODE is webhook: updates arrive through `careloop serve`")
    _require_migrated(settings)
    asyncio.run(_run_bot(settings))


async def _run_bot(settings: Settings) -> None:
    from bot.factory import build_engine, watch_models
    from bot.telegram.channel import TelegramChannel
    from crm.db import create_db_engine, create_session_factory

    engine = create_db_engine(settings.effective_database_url)
    bot_engine = await asyncio.to_thread(build_engine, settings)
    channel = TelegramChannel(settings, bot_engine, create_session_factory(engine))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    watcher = asyncio.create_task(watch_models(bot_engine, settings))
    try:
        await channel.start()
        typer.echo("careloop bot: polling Telegram; Ctrl-C stops it")
        await stop.wait()
    finally:
        watcher.cancel()
        await channel.stop()
        engine.dispose()


@telegram_app.command("set-webhook")
def telegram_set_webhook(
    url: Annotated[str, typer.Argument(help="Public HTTPS URL of /telegram/webhook.")],
    drop_pending: Annotated[
        bool, typer.Option(help="Discard updates Telegram queued while no one listened.")
    ] = False,
) -> None:
    """Tell Telegram to post updates to URL, signed with CARELOOP_TELEGRAM_WEBHOOK_SECRET."""
    from bot.telegram.channel import ALLOWED_UPDATES, make_bot

    settings = _telegram_settings()
    secret = settings.telegram_webhook_secret
    if secret is None or not secret.get_secret_value():
        raise _fail("set CARELOOP_TELEGRAM_WEBHOOK_SECRET first (the webhook route checks it)")
    if not url.startswith(("https://", "http://")):
        raise _fail(f"not a URL: {url!r}")

    async def run() -> None:
        async with make_bot(settings) as bot:
            await bot.set_webhook(
                url=url,
                secret_token=secret.get_secret_value(),
                allowed_updates=ALLOWED_UPDATES,
                drop_pending_updates=drop_pending,
            )

    _telegram_call(run)
    typer.echo(f"webhook set: {url}")


@telegram_app.command("delete-webhook")
def telegram_delete_webhook() -> None:
    """Remove the webhook (needed before polling with `careloop bot`)."""
    from bot.telegram.channel import make_bot

    settings = _telegram_settings()

    async def run() -> None:
        async with make_bot(settings) as bot:
            await bot.delete_webhook()

    _telegram_call(run)
    typer.echo("webhook removed")


@telegram_app.command("link")
def telegram_link(
    customer_id: Annotated[int, typer.Argument(help="CRM customer id.")],
    username: Annotated[
        str | None, typer.Option(help="The bot's @username (asked from Telegram when omitted).")
    ] = None,
) -> None:
    """Print a t.me deep link that attaches a Telegram chat to this customer's record."""
    from bot.telegram.channel import make_bot
    from crm.customers.links import link_token
    from crm.customers.service import get_customer
    from crm.db import create_db_engine, create_session_factory, session_scope

    settings = _settings()
    engine = create_db_engine(settings.effective_database_url)
    try:
        with session_scope(create_session_factory(engine)) as session:
            get_customer(session, customer_id)
    except AppError as exc:
        raise _fail(exc.message) from None
    finally:
        engine.dispose()
    if username is None:
        settings = _telegram_settings()
        found: list[str] = []

        async def run() -> None:
            async with make_bot(settings) as bot:
                found.append(bot.username)

        _telegram_call(run)
        username = found[0]
    token = link_token(customer_id, settings.secret_key.get_secret_value())
    typer.echo(f"https://t.me/{username.lstrip('@')}?start={token}")


def _telegram_call(run: Callable[[], Coroutine[Any, Any, None]]) -> None:
    from telegram.error import TelegramError

    try:
        asyncio.run(run())
    except TelegramError as exc:
        raise _fail(f"Telegram said: {exc}") from None


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
        for line in _chat_lines(f"http://{settings.host}:{settings.port}", summary.web_sessions):
            typer.echo(line)


def _chat_lines(base: str, chats: list[DemoChat]) -> list[str]:
    width = max(len(chat.session_id) for chat in chats)
    return [f"  {base}/chat?session={chat.session_id:<{width}}  {chat.label}" for chat in chats]


_IMPORT_HELP = f"""Import customers or orders from CSV: validated, de-duplicated, idempotent.

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


@app.command("import", help=_IMPORT_HELP)
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

    settings = _settings()
    if kind not in ("customers", "orders"):
        raise _fail(f"can import customers or orders, not {kind!r}", 2)
    if delimiter is not None:
        delimiter = _DELIMITER_NAMES.get(delimiter.lower(), delimiter)
        if delimiter not in DELIMITERS:
            raise _fail("--delimiter is comma, semicolon, tab or pipe", 2)
    if not file.is_file():
        raise _fail(f"{file}: no such file")
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
        raise _fail(f"{file}: {exc.message}") from None
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


@app.command("score")
def score_cmd() -> None:
    """Score every customer: RFM segment, lifetime value and churn risk with reasons."""
    from crm.scoring.rfm import SEGMENT_NAMES
    from crm.scoring.service import score_customers

    settings = _settings()
    with (
        _session(settings) as session,
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


@churn_app.command("evaluate")
def churn_evaluate(
    data: Annotated[Path, typer.Option(help="Customer table (CSV with a header row).")],
    target: Annotated[str, typer.Option(help="The column that says whether they churned.")],
    id_column: Annotated[
        str | None, typer.Option("--id", help="An id column to leave out of the features.")
    ] = None,
    folds: Annotated[int, typer.Option(min=2, max=20, help="Cross-validation folds.")] = 5,
) -> None:
    """Cross-validate careloop's churn model on any table: one JSON object with auc,
    accuracy, n and the top features."""
    from crm.scoring.tabular import cross_validate, read_table

    _settings()
    started = time.perf_counter()
    try:
        table = read_table(data, target, id_column)
        result = cross_validate(table, folds=folds)
    except AppError as exc:
        raise _fail(exc.message) from None
    result["seconds"] = round(time.perf_counter() - started, 1)
    typer.echo(json.dumps(result, indent=2))


@customer_app.command("export")
def customer_export(
    customer_id: Annotated[int, typer.Argument(help="CRM customer id.")],
    output: Annotated[
        Path | None, typer.Option(help="Write the JSON here instead of standard output.")
    ] = None,
) -> None:
    """Everything careloop holds about one customer, as JSON (a subject access request)."""
    from crm.customers.privacy import export_customer

    with _session(_settings()) as session:
        document = export_customer(session, customer_id)
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
        raise _fail("erasing cannot be undone: add --yes to confirm", 2)
    with _session(_settings()) as session:
        changed = erase_customer(session, customer_id)
    typer.echo(
        f"customer {customer_id} erased: {changed['messages']} messages blanked, "
        f"{changed['survey_comments']} survey comments and {changed['identities']} channel "
        "identities removed"
    )


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
                by=_cli_actor(),
            )
            typer.echo(f"created {user.role.value} {user.email} (id {user.id})")
    except AppError as exc:
        raise _fail(exc.message) from None
    finally:
        engine.dispose()


def _cli_actor() -> Any:
    from crm.audit import Actor

    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    return Actor(f"cli ({who})")


def _find_user(session: Session, who: str) -> Any:
    """A user by email or numeric id."""
    from crm.users.service import find_user_by_email, get_user

    if who.isdigit():
        return get_user(session, int(who))
    user = find_user_by_email(session, who.strip())
    if user is None:
        raise _fail(f"no user with email {who}")
    return user


UserArg = Annotated[str, typer.Argument(help="The user's email (or id).")]


@users_app.command("list")
def users_list(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Every staff account: id, email, role, active or disabled, last sign-in."""
    from crm.users.schemas import UserRead
    from crm.users.service import list_users

    with _session(_settings()) as session:
        for user in list_users(session):
            if as_json:
                typer.echo(UserRead.model_validate(user).model_dump_json())
                continue
            state = "active" if user.is_active else "disabled"
            if user.password_change_required:
                state += ", must change password"
            last = user.last_login_at.strftime("%Y-%m-%d %H:%M") if user.last_login_at else "never"
            typer.echo(
                f"{user.id:>5}  {user.email:<32} {user.role.value:<9} {state:<30} "
                f"last sign-in {last}"
            )


@users_app.command("disable")
def users_disable(email: UserArg) -> None:
    """Disable an account: its sessions end at once, its API tokens stop working."""
    from crm.users.service import set_active

    with _session(_settings()) as session:
        user = set_active(session, user=_find_user(session, email), active=False, by=_cli_actor())
        typer.echo(f"disabled {user.email}")


@users_app.command("enable")
def users_enable(email: UserArg) -> None:
    """Enable a disabled account again."""
    from crm.users.service import set_active

    with _session(_settings()) as session:
        user = set_active(session, user=_find_user(session, email), active=True, by=_cli_actor())
        typer.echo(f"enabled {user.email}")


@users_app.command("set-role")
def users_set_role(
    email: UserArg,
    role: Annotated[str, typer.Argument(help="agent, marketer or admin.")],
) -> None:
    """Change a user's role (the last active admin keeps theirs)."""
    from crm.models import Role
    from crm.users.service import update_user

    try:
        role_value = Role(role)
    except ValueError:
        raise _fail(f"unknown role {role!r}; use agent, marketer or admin", 2) from None
    with _session(_settings()) as session:
        user = update_user(
            session, user=_find_user(session, email), by=_cli_actor(), role=role_value
        )
        typer.echo(f"{user.email} is now {user.role.value}")


@users_app.command("reset-password")
def users_reset_password(
    email: UserArg,
    interactive: Annotated[
        bool, typer.Option("--interactive", help="Type the new password instead.")
    ] = False,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the new password from standard input.")
    ] = False,
) -> None:
    """Reset a password: prints a one-time password (or takes one with --interactive /
    --password-stdin); the user's sessions end and they must choose their own password at
    the next sign-in."""
    from crm.users.service import reset_password

    password = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif interactive:
        password = getpass.getpass("new password: ")
        if getpass.getpass("repeat: ") != password:
            raise _fail("passwords do not match")
    with _session(_settings()) as session:
        user = _find_user(session, email)
        generated = reset_password(session, user=user, by=_cli_actor(), password=password)
    if generated is not None:
        typer.echo(f"one-time password for {user.email}: {generated}")
    else:
        typer.echo(f"password of {user.email} reset")
    typer.echo("their sessions ended; they must choose a new password when they sign in")


@app.command("create-token")
def create_token_cmd(
    email: Annotated[str, typer.Option(help="The staff user the token acts as.")],
    name: Annotated[str, typer.Option(help="What the token is for (e.g. 'helpdesk sync').")],
) -> None:
    """Create an API token (printed once; send it as `Authorization: Bearer <token>`)."""
    from crm.db import create_db_engine, create_session_factory, session_scope
    from crm.users.service import create_api_token, find_user_by_email

    settings = _settings()
    engine = create_db_engine(settings.effective_database_url)
    try:
        with session_scope(create_session_factory(engine)) as session:
            user = find_user_by_email(session, email)
            if user is None:
                raise _fail(f"no user with email {email}")
            plain, token = create_api_token(session, user=user, name=name)
            typer.echo(f"token {token.id} for {user.email} ({user.role.value}): {plain}")
    except AppError as exc:
        raise _fail(exc.message) from None
    finally:
        engine.dispose()


@nlu_app.command("train")
def nlu_train(
    task: Annotated[str, typer.Option(help="intent or sentiment.")],
    data: Annotated[Path | None, typer.Option(help="YAML or text,label CSV file.")] = None,
    mode: Annotated[
        str, typer.Option(help="fast (frozen encoder + head, seconds) or finetune (minutes).")
    ] = "fast",
    corrections: Annotated[
        bool,
        typer.Option(help="Add the agents' intent corrections from the database (intent)."),
    ] = True,
) -> None:
    """Train a model and make it the active one (a running server reloads it by itself).
    Intent training adds every intent correction agents made in the inbox."""
    from bot.factory import nlu_config
    from crm.conversations import inbox
    from nlp.dataset import DataError, Example
    from nlp.encoder import SentenceEncoder
    from nlp.pipeline import train_task

    settings = _settings()
    _check_task(task)
    _check_mode(mode)
    extra: list[Example] = []
    if task == "intent" and corrections:
        from sqlalchemy.exc import SQLAlchemyError

        try:
            with _session(settings) as session:
                extra = [Example(text, label) for text, label in inbox.corrections(session)]
        except SQLAlchemyError as exc:  # no database yet: train on the file alone
            typer.echo(f"note: no intent corrections read ({type(exc).__name__})", err=True)
    encoder = SentenceEncoder(settings.encoder_model or None)
    try:
        artifact = train_task(encoder, nlu_config(settings), task, data, mode=mode, extra=extra)
    except DataError as exc:
        raise _fail(str(exc)) from None
    typer.echo(
        json.dumps(
            {
                "task": task,
                "mode": mode,
                "version": artifact.version,
                "corrections": len(extra),
                **artifact.meta["metrics"],
            }
        )
    )


@nlu_app.command("evaluate")
def nlu_evaluate(
    task: Annotated[str, typer.Option(help="intent or sentiment.")],
    train: Annotated[Path, typer.Option(help="Training CSV (text,label).")],
    test: Annotated[Path, typer.Option(help="Test CSV (text,label).")],
    oos_label: Annotated[
        str | None, typer.Option(help="Label that marks out-of-scope test rows.")
    ] = None,
    mode: Annotated[str, typer.Option(help="fast or finetune.")] = "fast",
) -> None:
    """Train on TRAIN and report accuracy and macro-F1 on TEST as one JSON object.

    With --oos-label the out-of-scope detector (nlp/oos.py, the bot's own) rejects messages
    outside the trained intents; the report adds in_scope_accuracy, oos_recall, oos_auroc,
    the threshold and how it was chosen (from TRAIN only: its out-of-scope rows if it has
    some, else intents held out of TRAIN as pseudo out-of-scope). CARELOOP_INTENT_THRESHOLD
    set = the max-softmax rule at that confidence instead."""
    from nlp.dataset import DataError, load_examples
    from nlp.encoder import SentenceEncoder
    from nlp.evaluation import evaluate

    settings = _settings()
    _check_task(task)
    _check_mode(mode)
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
        mode=mode,
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


def _require_migrated(settings: Settings) -> None:
    from crm.db import create_db_engine
    from crm.migrate import current_revision, head_revision

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


@campaigns_app.command("list")
def campaigns_list() -> None:
    """Every campaign with its status, channel and schedule."""
    from crm.campaigns import service

    settings = _settings()
    with _session(settings) as session:
        for c in service.list_campaigns(session):
            typer.echo(
                f"{c.id:>5}  {c.status.value:<9}  {c.channel.value:<8}  "
                f"{c.schedule_kind.value:<9}  {c.name}"
            )


@campaigns_app.command("run")
def campaigns_run(campaign_id: Annotated[int, typer.Argument(help="campaign id")]) -> None:
    """Plan a scheduled campaign's run now (audience, control group, guards, outbox)."""
    from crm.campaigns import service

    settings = _settings()
    with _session(settings) as session:
        campaign = service.get_campaign(session, campaign_id)
        result = service.run_once(session, campaign, settings)
    typer.echo(json.dumps(result.as_dict()))


@campaigns_app.command("triggers")
def campaigns_triggers() -> None:
    """Plan what fired the active triggered campaigns since their last sweep."""
    from crm.campaigns import runs

    settings = _settings()
    with _session(settings) as session:
        results = runs.run_triggers(session, settings)
    typer.echo(json.dumps([r.as_dict() for r in results]))


@campaigns_app.command("send")
def campaigns_send(
    timeout: Annotated[float, typer.Option(help="give up after this many seconds")] = 3600.0,
) -> None:
    """Send every due campaign message now (guards checked) and exit: web chat messages are
    queued for the chat, Telegram ones delivered within the rate limits."""
    settings = _settings()
    _require_migrated(settings)
    stats = asyncio.run(_send_campaigns(settings, timeout))
    typer.echo(json.dumps(stats))


async def _send_campaigns(settings: Settings, timeout: float) -> dict[str, Any]:
    import datetime as dt

    from bot.telegram.channel import make_bot
    from bot.telegram.limiter import RateLimiter
    from bot.telegram.sender import TelegramSender
    from crm.campaigns import dispatch
    from crm.db import create_db_engine, create_session_factory, session_scope

    engine = create_db_engine(settings.effective_database_url)
    factory = create_session_factory(engine)
    totals: dict[str, Any] = {"queued": 0, "deferred": 0, "skipped": {}}
    sender = None
    if settings.telegram_enabled:
        bot = make_bot(settings)
        await bot.initialize()
        sender = TelegramSender(
            bot,
            factory,
            limiter=RateLimiter(settings.telegram_rate_per_second, settings.telegram_chat_interval),
            max_attempts=settings.telegram_max_attempts,
            claim_lease=dt.timedelta(seconds=settings.outbox_claim_lease_seconds),
        )
    deadline = time.monotonic() + timeout
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
            await sender.bot.shutdown()
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
        raise _fail("--format is json or csv", 2)
    settings = _settings()
    with _session(settings) as session:
        data = report.campaign_report(session, service.get_campaign(session, campaign_id))
    typer.echo(report.report_csv(data) if format == "csv" else json.dumps(data, indent=2))


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
        raise _fail(f"--start/--end: {exc}", 2) from None
    except ValidationFailed as exc:
        raise _fail(exc.message, 2) from None


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
        raise _fail("--format is csv or jsonl", 2)
    filters = _quality_filters(start, end, team, agent, segment)
    settings = _settings()
    write = quality.export_csv if format == "csv" else quality.export_jsonl
    with _session(settings) as session:
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
    settings = _settings()
    with _session(settings) as session:
        typer.echo(json.dumps(quality.report(session, filters), indent=2))


def _telegram_settings() -> Settings:
    settings = _settings()
    if not settings.telegram_enabled:
        raise _fail("no Telegram token: set CARELOOP_TELEGRAM_TOKEN (from @BotFather)")
    return settings


def _check_mode(mode: str) -> None:
    from nlp.finetune import MODES

    if mode not in MODES:
        raise _fail(f"unknown mode {mode!r}; use fast or finetune", 2)


def _check_task(task: str) -> None:
    if task not in ("intent", "sentiment"):
        raise _fail(f"unknown task {task!r}; use intent or sentiment", 2)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    app()
