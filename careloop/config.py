"""One typed settings object, read from ``CARELOOP_*`` environment variables or ``.env``."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET = "dev-secret-change-me"  # noqa: S105 (refused outside development)


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class Settings(BaseSettings):
    """Every knob careloop has; each is documented in the README."""

    model_config = SettingsConfigDict(
        env_prefix="CARELOOP_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    env: Environment = Environment.development
    data_dir: Path = Path("var")
    database_url: str = ""
    database_echo: bool = False

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    secret_key: SecretStr = SecretStr(DEFAULT_SECRET)
    log_level: str = "INFO"

    # NLU
    encoder_model: str = ""
    intent_data: Path | None = None
    sentiment_data: Path | None = None
    model_dir: Path | None = None
    intent_threshold: float = Field(default=0.45, ge=0.0, le=1.0)

    # Bot
    responses_file: Path | None = None
    max_message_chars: int = Field(default=4000, ge=1)
    idle_resolve_minutes: int = Field(default=30, ge=1)

    # Scheduler
    scheduler_enabled: bool = True

    # Telegram
    telegram_token: SecretStr | None = None

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Self:
        if self.env is Environment.production and self.secret_key.get_secret_value() in (
            DEFAULT_SECRET,
            "",
        ):
            raise ValueError("CARELOOP_SECRET_KEY must be set to a strong value in production")
        return self

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
