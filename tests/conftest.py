"""Shared fixtures: one NLU per run, a migrated database per backend, a rolled-back
transaction per test, and the real FastAPI app bound to that transaction."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot.engine import Engine as BotEngine
from bot.responses import ResponseBook
from careloop.config import Settings
from crm.db import create_db_engine
from crm.models import Role, User
from migrations.runner import upgrade
from nlp.encoder import SentenceEncoder, use_batch_threads
from nlp.pipeline import NLU, NLUConfig, load_nlu
from tests.factories import make_user
from web.app import create_app

os.environ.setdefault("HF_HUB_OFFLINE", "1")
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def postgres_admin_url() -> str:
    return os.environ.get("CARELOOP_TEST_POSTGRES_URL", DEFAULT_PG_URL)


def require_postgres() -> str:
    """The admin URL if PostgreSQL answers; under CI a missing server fails the test."""
    url = postgres_admin_url()
    try:
        probe = create_engine(url)
        with probe.connect() as conn:
            conn.execute(text("SELECT 1"))
        probe.dispose()
    except OperationalError as exc:
        message = f"PostgreSQL not reachable at {url}: {exc.__class__.__name__}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return url


def create_postgres_database() -> tuple[str, Engine]:
    """A fresh, empty database on the test server; returns its URL and an admin engine."""
    admin_url = require_postgres()
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"careloop_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    return url, admin


def drop_postgres_database(admin: Engine, url: str) -> None:
    name = make_url(url).database
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@contextmanager
def migrated_postgres_database() -> Iterator[str]:
    """A fresh database on the test server migrated to head; dropped afterwards, with
    whatever still uses it."""
    url, admin = create_postgres_database()
    try:
        upgrade(url)
        yield url
    finally:
        drop_postgres_database(admin, url)


@contextmanager
def migrated_database(backend: str, folder: Path) -> Iterator[str]:
    """A database migrated to head: an SQLite file in ``folder``, or a fresh PostgreSQL
    database (``migrated_postgres_database``)."""
    if backend == "sqlite":
        url = f"sqlite:///{folder / 'test.db'}"
        upgrade(url)
        yield url
        return
    with migrated_postgres_database() as url:
        yield url


# Tests that train models or cross-validate (seconds to minutes each on 2 cores). Kept in one
# list so that `make test-fast` (no slow, browser or PostgreSQL tests) stays under 2 minutes.
SLOW_TESTS = (
    "test_churn.py::test_evaluate_cli_prints_one_json_object",
    "test_churn.py::test_the_shop_model_ranks_fading_customers_high_with_reasons",
    "test_churn.py::test_evaluate_comes_close_to_the_best_possible_auc",
    "test_operations.py::test_corrections_become_training_data",
    "test_nlp.py::test_artifacts_are_versioned_and_reloaded",
    "test_nlp_modes.py::test_trained_threshold_is_used_unless_configured",
    "test_nlp_modes.py::test_finetuned_mode_trains_saves_loads_and_reloads",
    "test_oos.py::test_artifact_with_detector_round_trip",
    "test_clv.py::test_models_score_a_shop_with_enough_history",
    "test_campaign_crash.py::test_a_killed_sender_restarts_without_duplicates_or_silent_losses",
    "test_escalation.py::test_labelled_conversations_meet_the_precision_and_recall_goals",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if any(slow in item.nodeid for slow in SLOW_TESTS):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def encoder() -> SentenceEncoder:
    return SentenceEncoder()


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def nlu(encoder: SentenceEncoder, model_dir: Path) -> NLU:
    return load_nlu(encoder, NLUConfig(model_dir=model_dir))


@pytest.fixture(scope="session")
def bot(nlu: NLU) -> BotEngine:
    return BotEngine(nlu, ResponseBook.load())


@pytest.fixture(
    scope="session",
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A database migrated to head, once per backend per run."""
    with migrated_database(request.param, tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture(scope="session")
def db_engine(db_url: str) -> Iterator[Engine]:
    engine = create_db_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(db_engine: Engine) -> Iterator[Connection]:
    """One connection whose outer transaction is rolled back after the test."""
    conn = db_engine.connect()
    trans = conn.begin()
    yield conn
    trans.rollback()
    conn.close()


@pytest.fixture
def session_factory(connection: Connection) -> sessionmaker[Session]:
    return sessionmaker(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    s = session_factory()
    yield s
    s.close()


@pytest.fixture
def settings(tmp_path: Path, db_url: str, model_dir: Path) -> Settings:
    return Settings(
        env="test",
        data_dir=tmp_path,
        database_url=db_url,
        model_dir=model_dir,
        scheduler_enabled=False,
    )


@pytest.fixture(autouse=True)
def _pytorch_threads() -> Iterator[None]:
    """A serving app that a test starts sets the encoder's batch threads for the whole
    process (app.compose.limit_threads): every test begins with PyTorch's own number."""
    yield
    use_batch_threads(0)


@pytest.fixture
def client(
    settings: Settings,
    bot: BotEngine,
    db_engine: Engine,
    session_factory: sessionmaker[Session],
) -> Iterator[TestClient]:
    app = create_app(
        settings, bot=bot, db_engine=db_engine, session_factory=session_factory, run_scheduler=False
    )
    with TestClient(app) as c:
        yield c


@pytest.fixture
def live_session_factory(db_engine: Engine) -> Iterator[sessionmaker[Session]]:
    """Sessions that really commit (for tests with threads or an event loop of their own);
    afterwards every table holds again what it held before (the rows the migrations seed,
    e.g. canned responses), so the rolled-back tests still start clean."""
    from crm.db import Base, create_session_factory

    tables = Base.metadata.sorted_tables
    with db_engine.connect() as conn:
        seeded = {
            table: [dict(row._mapping) for row in conn.execute(table.select())] for table in tables
        }
    yield create_session_factory(db_engine)
    with db_engine.begin() as conn:
        for table in reversed(tables):
            conn.execute(table.delete())
        for table in tables:
            if seeded[table]:
                conn.execute(table.insert(), seeded[table])


@pytest.fixture
def staff(session: Session) -> dict[str, User]:
    """One user per role (and a second agent), in the test's database."""
    return {
        "agent": make_user(session, Role.agent, display_name="Alice Agent"),
        "agent2": make_user(session, Role.agent, display_name="Bob Agent"),
        "marketer": make_user(session, Role.marketer),
        "admin": make_user(session, Role.admin),
    }
