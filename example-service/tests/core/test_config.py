"""Settings: database URL normalisation and refusal, the placeholder-secret guard."""

import pytest
from pydantic import SecretStr, ValidationError

from app.core.config import Settings, get_settings, settings_error_message


def error_line(**env: object) -> str:
    """The one-line message for settings built from ``env``; fails if they are valid."""
    with pytest.raises(ValidationError) as caught:
        Settings(**env)  # type: ignore[arg-type]
    return settings_error_message(caught.value)


def test_defaults_are_local_sqlite_on_port_8000() -> None:
    settings = Settings()

    assert settings.DATABASE_URL == "sqlite+aiosqlite:///./app.db"
    assert settings.ENVIRONMENT == "local"
    assert (settings.HOST, settings.PORT) == ("0.0.0.0", 8000)
    assert settings.is_sqlite


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u:p@db:5432/app", "postgresql+asyncpg://u:p@db:5432/app"),
        ("postgres://u:p@db/app", "postgresql+asyncpg://u:p@db/app"),
        ("postgresql+asyncpg://u:p@db/app", "postgresql+asyncpg://u:p@db/app"),
        ("sqlite:///./app.db", "sqlite+aiosqlite:///./app.db"),
        ("sqlite+aiosqlite:////data/app.db", "sqlite+aiosqlite:////data/app.db"),
        ("postgresql://u:p%40ss%25@db/app", "postgresql+asyncpg://u:p%40ss%25@db/app"),
    ],
)
def test_database_url_is_normalised_to_the_async_driver(given: str, expected: str) -> None:
    assert expected == Settings(DATABASE_URL=given).DATABASE_URL


def test_database_url_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db/app")
    monkeypatch.setenv("PORT", "9000")

    settings = get_settings()

    assert settings.DATABASE_URL == "postgresql+asyncpg://u:p@db/app"
    assert settings.PORT == 9000


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("mysql://u:secretpw@db/app", "unsupported scheme 'mysql://'"),
        ("postgresql+psycopg2://u:secretpw@db/app", "unsupported scheme 'postgresql+psycopg2://'"),
        ("foo", "is not a valid database URL"),
        ("postgresql://u:secretpw@db:port/app", "is not a valid database URL"),
    ],
)
def test_bad_database_url_is_one_line_naming_the_variable_and_what_is_accepted(
    url: str, problem: str
) -> None:
    line = error_line(DATABASE_URL=url)

    assert line.startswith("invalid configuration: DATABASE_URL ")
    assert problem in line
    assert "postgresql://, postgres://, postgresql+asyncpg://, sqlite+aiosqlite://" in line
    assert "\n" not in line
    assert "secretpw" not in line


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_placeholder_secret_is_refused_outside_local(environment: str) -> None:
    line = error_line(ENVIRONMENT=environment)

    assert line == (
        "invalid configuration: SECRET_KEY is the placeholder 'changethis'; "
        f"set a real secret when ENVIRONMENT={environment}"
    )


def test_placeholder_secret_is_allowed_locally() -> None:
    assert Settings(ENVIRONMENT="local").SECRET_KEY.get_secret_value() == "changethis"


def test_real_secret_is_accepted_in_production() -> None:
    settings = Settings(ENVIRONMENT="production", SECRET_KEY=SecretStr("s3cr3t-from-the-vault"))

    assert "s3cr3t" not in repr(settings)


def test_every_invalid_variable_is_reported_at_once() -> None:
    line = error_line(DATABASE_URL="foo", PORT="http", ENVIRONMENT="prod")

    assert "DATABASE_URL is not a valid database URL" in line
    assert "PORT: Input should be a valid integer" in line
    assert "ENVIRONMENT: Input should be 'local', 'staging' or 'production'" in line
