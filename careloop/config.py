"""One typed settings object, read from ``CARELOOP_*`` environment variables or ``.env``."""

from __future__ import annotations

import re
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Self

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
DEFAULT_SECRET = "dev-secret-change-me"  # noqa: S105 (refused outside development)
MIN_SECRET_LENGTH = 32
HOW_TO_MAKE_A_KEY = 'make one with: python3 -c "import secrets; print(secrets.token_urlsafe(32))"'


def weak_secret_reason(secret: str) -> str | None:
    """Why ``secret`` is too weak to sign sessions and links with, or None when it is
    strong: at least 32 characters, at least 10 different ones, not one short piece
    repeated, and not the development default."""
    if DEFAULT_SECRET in secret:
        return "it is (or contains) the development default"
    if len(secret) < MIN_SECRET_LENGTH:
        return f"it has {len(secret)} characters; at least {MIN_SECRET_LENGTH} are needed"
    if len(set(secret)) < 10:
        return "it uses fewer than 10 different characters"
    for size in range(1, len(secret) // 2 + 1):
        if (secret[:size] * (len(secret) // size + 1))[: len(secret)] == secret:
            return "it is one short piece repeated"
    return None


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class TelegramMode(StrEnum):
    polling = "polling"  # development: the process asks Telegram for updates
    webhook = "webhook"  # production: Telegram posts updates to /telegram/webhook


class Settings(BaseSettings):
    """Every knob careloop has; each is documented in the README."""

    model_config = SettingsConfigDict(
        env_prefix="CARELOOP_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    env: Environment = Environment.development
    data_dir: Path = Path("var")
    database_url: str = ""
    database_echo: bool = False
    # PostgreSQL, the server's connections: a statement running longer fails, and so does
    # a transaction left open and idle (its locks are freed); 0 turns a limit off.
    database_statement_timeout_seconds: float = Field(default=30.0, ge=0)
    database_idle_in_transaction_timeout_seconds: float = Field(default=60.0, ge=0)
    # PostgreSQL connections per process (each `serve` worker has its own pool)
    database_pool_size: int = Field(default=10, ge=1)
    database_max_overflow: int = Field(default=20, ge=0)

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)  # `careloop serve` processes (PostgreSQL)
    secret_key: SecretStr = SecretStr(DEFAULT_SECRET)
    log_level: str = "INFO"

    # Staff sign-in (sessions, throttling, hashing) and web security
    session_idle_minutes: int = Field(default=30, ge=1)
    session_max_hours: int = Field(default=12, ge=1)
    login_max_failures: int = Field(default=5, ge=1)
    login_max_failures_per_address: int = Field(default=50, ge=1)
    login_failure_window_minutes: int = Field(default=15, ge=1)
    password_hash_concurrency: int = Field(default=1, ge=1)
    allowed_origins: list[str] = Field(default_factory=list)

    # NLU
    encoder_model: str = ""
    intent_data: Path | None = None
    sentiment_data: Path | None = None
    model_dir: Path | None = None
    intent_threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    intent_oos_weight: float = Field(default=0.15, ge=0.0, le=1.0)
    sentiment_model: str = ""
    nlu_batch_max: int = Field(default=32, ge=1)
    nlu_batch_wait_ms: float = Field(default=1.0, ge=0.0)
    nlu_reload_seconds: float = Field(default=10.0, ge=0.0)

    # Bot
    responses_file: Path | None = None
    max_message_chars: int = Field(default=4000, ge=1)
    idle_resolve_minutes: int = Field(default=30, ge=1)
    business_hours: str = "mon-fri 09:00-18:00, sat 10:00-14:00"
    business_timezone: str = "Europe/Berlin"
    # The shop's name in the web chat's header and the bot's replies ("" keeps the
    # response book's shop.name).
    shop_name: str = Field(default="", max_length=100)
    escalation_strong_negative: float = Field(default=-0.75, ge=-1.0, le=1.0)
    escalation_negative: float = Field(default=-0.5, ge=-1.0, le=1.0)
    escalation_negative_window: int = Field(default=3, ge=1)
    escalation_negative_count: int = Field(default=2, ge=1)
    escalation_fallbacks: int = Field(default=2, ge=1)
    escalation_at_risk_negative: float = Field(default=-0.3, ge=-1.0, le=1.0)
    # Dialogue: requests about one order (bot/dialogue.py)
    order_id_patterns: list[str] = Field(default_factory=list)
    # The carriers' tracking pages, by carrier name (case-insensitive) as the orders name it;
    # {number} is the tracking number. An order with such a carrier shows its link.
    tracking_urls: dict[str, str] = Field(
        default_factory=lambda: {
            "DHL": "https://www.dhl.de/de/privatkunden/pakete-empfangen/verfolgen.html?piececode={number}",
            "DPD": "https://tracking.dpd.de/status/de_DE/parcel/{number}",
            "GLS": "https://gls-group.com/DE/de/paketverfolgung?match={number}",
            "Hermes": "https://www.myhermes.de/empfangen/sendungsverfolgung/sendungsinformation#{number}",
            "UPS": "https://www.ups.com/track?tracknum={number}",
            "FedEx": "https://www.fedex.com/fedextrack/?trknbr={number}",
        }
    )
    dialogue_timeout_minutes: int = Field(default=30, ge=1)
    dialogue_max_tries: int = Field(default=3, ge=1)
    # The response book's frequent questions (bot/faq.py): a message this similar to one of
    # them gets its answer (cosine of the encoder's embeddings; chosen on the dev splits)
    faq_min_similarity: float = Field(default=0.75, ge=0.0, le=1.0)
    # A customer who writes while waiting in the queue hears when a person will answer, at
    # most once in this many minutes
    queue_reminder_minutes: int = Field(default=10, ge=1)
    verify_max_failures_per_conversation: int = Field(default=3, ge=1)
    verify_max_failures_per_visitor: int = Field(default=5, ge=1)
    web_login_secret: SecretStr | None = None

    # Scheduler
    scheduler_enabled: bool = True

    # Inbox
    auto_assign: bool = True
    agent_online_seconds: int = Field(default=120, ge=10)

    # CRM data
    import_default_region: str = Field(default="DE", pattern=r"^[A-Z]{2}$")
    rfm_window_days: int = Field(default=365, ge=1)
    clv_horizon_days: int = Field(default=365, ge=1)
    churn_horizon_days: int = Field(default=90, ge=7)
    churn_medium: float = Field(default=0.3, gt=0.0, lt=1.0)
    churn_high: float = Field(default=0.6, gt=0.0, lt=1.0)
    # Threads the models may use while scoring (crm/scoring/service.py says why 1)
    scoring_threads: int = Field(default=1, ge=1, le=256)
    # BLAS threads (NumPy, SciPy) in a serving process once its models are loaded; 0 leaves
    # the libraries' own default (app/compose.py says why 1)
    blas_threads: int = Field(default=1, ge=0, le=256)
    # PyTorch threads for the encoder's batches of several messages in a serving process;
    # 0 leaves PyTorch's default (nlp/encoder.py, use_batch_threads, says why 1)
    encoder_batch_threads: int = Field(default=1, ge=0, le=256)

    # Campaigns (guards are checked when a run is planned and again at send time)
    campaign_frequency_cap: int = Field(default=2, ge=1)
    campaign_frequency_days: int = Field(default=7, ge=1)
    campaign_quiet_hours: str = Field(
        default="21:00-09:00", pattern=r"^(\d{2}:\d{2}-\d{2}:\d{2})?$"
    )
    campaign_dispatch_batch: int = Field(default=500, ge=1)
    campaign_backlog_seconds: float = Field(default=10.0, gt=0)
    campaign_misfire_grace_minutes: int = Field(default=60, ge=1)
    campaign_trigger_lookback_days: int = Field(default=7, ge=1)
    campaign_low_csat: int = Field(default=2, ge=1, le=5)
    # Contact-pressure governance: no marketing while a complaint is open, nor for N days
    # after a low CSAT (<= campaign_low_csat) or a detractor NPS (0-6); 0 turns a rule off.
    campaign_block_open_escalation: bool = True
    campaign_quiet_days_after_low_csat: int = Field(default=14, ge=0)
    campaign_quiet_days_after_detractor: int = Field(default=30, ge=0)
    # A new conversation this soon after a campaign message is a reply to that campaign.
    campaign_reply_window_days: int = Field(default=7, ge=0)
    outbox_claim_lease_seconds: float = Field(default=300.0, gt=0)

    # Surveys (CSAT after service, NPS on a schedule, CES after chosen intents)
    survey_csat_enabled: bool = True
    survey_csat_after_bot: bool = True
    survey_csat_question: str = (
        "How satisfied are you with the help you got? (1 = very unhappy, 5 = very happy)"
    )
    survey_comment_question: str = (
        "Thank you! What is the main reason for your score? Just type it, or tap Skip."
    )
    survey_nps_enabled: bool = True
    survey_nps_question: str = (
        "How likely are you to recommend us to a friend or colleague? "
        "(0 = not at all, 10 = extremely likely)"
    )
    survey_nps_interval_days: int = Field(default=90, ge=1)
    survey_nps_active_days: int = Field(default=90, ge=1)
    survey_ces_intents: list[str] = Field(default_factory=list)
    survey_ces_question: str = (
        "How easy was it to get what you needed today? (1 = very difficult, 7 = very easy)"
    )
    survey_min_gap_days: int = Field(default=7, ge=0)
    survey_expiry_hours: int = Field(default=48, ge=1)
    survey_comment_minutes: int = Field(default=30, ge=1)
    survey_max_delay_hours: int = Field(default=24, ge=1)
    satisfaction_churn_days: int = Field(default=90, ge=1)

    # Telegram
    telegram_token: SecretStr | None = None
    telegram_mode: TelegramMode = TelegramMode.polling
    telegram_webhook_secret: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org"
    telegram_rate_per_second: float = Field(default=30.0, gt=0)
    telegram_chat_interval: float = Field(default=1.0, ge=0)
    telegram_max_attempts: int = Field(default=5, ge=1)

    @model_validator(mode="after")
    def _refuse_weak_secret(self) -> Self:
        if self.env is Environment.production:
            reason = weak_secret_reason(self.secret_key.get_secret_value())
            if reason is not None:
                raise ValueError(
                    "CARELOOP_SECRET_KEY is too weak for production: "
                    f"{reason} ({HOW_TO_MAKE_A_KEY})"
                )
        return self

    @model_validator(mode="after")
    def _check_webhook_secret(self) -> Self:
        if self.telegram_enabled and self.telegram_mode is TelegramMode.webhook:
            secret = (
                self.telegram_webhook_secret.get_secret_value()
                if self.telegram_webhook_secret
                else ""
            )
            if not _WEBHOOK_SECRET.fullmatch(secret):
                raise ValueError(
                    "CARELOOP_TELEGRAM_WEBHOOK_SECRET must be set in webhook mode "
                    "(1-256 characters: A-Z, a-z, 0-9, _ and -)"
                )
        return self

    @model_validator(mode="after")
    def _check_tracking_urls(self) -> Self:
        for carrier, url in self.tracking_urls.items():
            if not url.startswith("https://") or "{number}" not in url:
                raise ValueError(
                    f"CARELOOP_TRACKING_URLS: {carrier!r}: {url!r} must be an https:// address "
                    "with {number} where the tracking number goes"
                )
        return self

    @model_validator(mode="after")
    def _check_order_patterns(self) -> Self:
        for pattern in self.order_id_patterns:
            try:
                compiled = re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"CARELOOP_ORDER_ID_PATTERNS: {pattern!r}: {exc}") from exc
            if compiled.groups < 1:
                raise ValueError(
                    f"CARELOOP_ORDER_ID_PATTERNS: {pattern!r} needs a capture group for the id"
                )
        return self

    @property
    def telegram_enabled(self) -> bool:
        return bool(self.telegram_token and self.telegram_token.get_secret_value().strip())

    @property
    def effective_database_url(self) -> str:
        """The configured URL, or a SQLite file inside the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'careloop.db').resolve()}"

    @property
    def effective_model_dir(self) -> Path:
        return self.model_dir if self.model_dir is not None else self.data_dir / "models"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (tests build their own ``Settings`` instead)."""
    return Settings()


def describe_settings_error(exc: ValidationError) -> str:
    """A readable account of bad settings: one line per variable, no traceback."""
    lines = []
    for error in exc.errors():
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        loc = error.get("loc") or ()
        name = f"CARELOOP_{str(loc[0]).upper()}" if loc else ""
        lines.append(f"  {name}: {message}" if name else f"  {message}")
    return "invalid settings (environment or .env):\n" + "\n".join(lines)
