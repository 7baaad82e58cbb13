"""``python -m app.backend_pre_start``: wait for the database before migrating."""

import pytest

from app.backend_pre_start import main


def test_returns_0_when_the_database_answers(
    monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)

    assert main(["--timeout", "5"]) == 0


def test_returns_1_when_the_database_never_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@127.0.0.1:1/x")

    assert main(["--timeout", "1.5"]) == 1


def test_returns_2_on_bad_configuration(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://db/app")

    assert main([]) == 2
    assert "DATABASE_URL has unsupported scheme 'mysql://'" in capsys.readouterr().err
