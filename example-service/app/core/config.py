"""Service settings, read from environment variables and validated once at startup."""

from functools import lru_cache
from typing import Literal, Self

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

# The value the guard refuses, not a secret.
PLACEHOLDER_SECRET = "changethis"  # noqa: S105  # nosec B105

# Accepted URL schemes and the async driver each one runs on.
_ASYNC_DRIVERS = {
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
}
ACCEPTED_DATABASE_URLS = "postgresql://, postgres://, postgresql+asyncpg://, sqlite+aiosqlite://"


def normalize_database_url(value: str) -> str:
    """Return ``value`` with its scheme rewritten to the async driver the service uses.

    Errors name the scheme but never echo the URL, which may hold a password.
    """
    try:
        url = make_url(value)
    except (ArgumentError, ValueError):
        raise ValueError(
            f"DATABASE_URL is not a valid database URL; expected one of {ACCEPTED_DATABASE_URLS}"
        ) from None
    driver = _ASYNC_DRIVERS.get(url.drivername)
    if driver is None:
        raise ValueError(
            f"DATABASE_URL has unsupported scheme '{url.drivername}://'; "
            f"expected one of {ACCEPTED_DATABASE_URLS}"
        )
    return url.set(drivername=driver).render_as_string(hide_password=False)


class Settings(BaseSettings):
    """Configuration from the environment; see README.md for each variable."""

    model_config = SettingsConfigDict(env_ignore_empty=True, extra="ignore")

    PROJECT_NAME: str = "Example Service"
    API_V1_STR: str = "/api/v1"
    ENVIRONMENT: Literal["local", "staging", "production"] = "local"
    DATABASE_URL: str = "sqlite+aiosqlite:///./app.db"
    # Signs tokens in a fuller service; here it exists so the placeholder guard has a job.
    SECRET_KEY: SecretStr = SecretStr(PLACEHOLDER_SECRET)
    READINESS_TIMEOUT_SECONDS: float = Field(default=2.0, gt=0, le=60)
    LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Containers must listen on all interfaces to be reachable through a published port.
    HOST: str = "0.0.0.0"  # noqa: S104  # nosec B104
    PORT: int = Field(default=8000, ge=1, le=65535)
    WEB_CONCURRENCY: int = Field(default=1, ge=1)
    # Keep below the orchestrator's kill deadline so drains finish (Kubernetes: 30 s;
    # docker stop and Swarm: 10 s unless --stop-timeout / --stop-grace-period say more).
    GRACEFUL_TIMEOUT_SECONDS: int = Field(default=20, ge=1)

    @field_validator("DATABASE_URL")
    @classmethod
    def _async_database_url(cls, value: str) -> str:
        return normalize_database_url(value)

    @model_validator(mode="after")
    def _refuse_placeholder_secret(self) -> Self:
        if self.ENVIRONMENT != "local" and self.SECRET_KEY.get_secret_value() == PLACEHOLDER_SECRET:
            raise ValueError(
                f"SECRET_KEY is the placeholder '{PLACEHOLDER_SECRET}'; "
                f"set a real secret when ENVIRONMENT={self.ENVIRONMENT}"
            )
        return self

    @property
    def is_sqlite(self) -> bool:
        """Whether the database is SQLite (single file, no server)."""
        return self.DATABASE_URL.startswith("sqlite")


def settings_error_message(exc: ValidationError) -> str:
    """Condense a settings ValidationError into one line that names each bad variable."""
    problems = []
    for error in exc.errors(include_url=False):
        message = error["msg"].removeprefix("Value error, ")
        field = ".".join(str(part) for part in error["loc"])
        problems.append(
            message if not field or message.startswith(field) else f"{field}: {message}"
        )
    return "invalid configuration: " + "; ".join(problems)


@lru_cache
def get_settings() -> Settings:
    """Settings from the current environment, read once per process."""
    return Settings()
