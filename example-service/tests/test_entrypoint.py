"""`python -m app` (app/__main__.py): configuration check, then exec gunicorn."""

import os
import subprocess
import sys

import pytest
from uvicorn_worker import UvicornWorker

from app.__main__ import gunicorn_argv, main
from app.core.config import Settings
from tests import SERVICE_DIR


def test_gunicorn_serves_the_app_with_uvicorn_workers_on_a_reusable_port() -> None:
    settings = Settings(HOST="0.0.0.0", PORT=8080, WEB_CONCURRENCY=3)

    argv = gunicorn_argv(settings)

    assert argv[:4] == [sys.executable, "-m", "gunicorn", "app.main:app"]
    assert "--worker-class=uvicorn_worker.UvicornWorker" in argv
    assert "--workers=3" in argv
    assert "--bind=0.0.0.0:8080" in argv
    assert "--reuse-port" in argv
    assert "--graceful-timeout=20" in argv
    assert not any(arg.startswith("--access-log") for arg in argv)


def test_ipv6_host_is_bracketed() -> None:
    assert "--bind=[::]:8000" in gunicorn_argv(Settings(HOST="::"))


def test_the_worker_class_exists() -> None:
    worker_class = next(a for a in gunicorn_argv(Settings()) if a.startswith("--worker-class="))

    assert worker_class == f"--worker-class={UvicornWorker.__module__.split('.')[0]}.UvicornWorker"


def test_main_replaces_the_process_with_gunicorn(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(os, "execvp", lambda file, args: calls.append((file, args)))
    monkeypatch.setenv("WEB_CONCURRENCY", "2")

    main()

    assert calls == [(sys.executable, gunicorn_argv(Settings(WEB_CONCURRENCY=2)))]


def test_main_exits_2_with_one_line_on_bad_configuration(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://u:p@db/app")

    with pytest.raises(SystemExit) as exited:
        main()

    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: invalid configuration: DATABASE_URL has unsupported scheme")
    assert err.count("\n") == 1


def test_python_m_app_prints_no_traceback_on_bad_configuration() -> None:
    env = {**os.environ, "DATABASE_URL": "foo"}

    done = subprocess.run(
        [sys.executable, "-m", "app"], cwd=SERVICE_DIR, env=env, capture_output=True, text=True
    )

    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "error: invalid configuration: DATABASE_URL is not a valid database URL; expected one of "
        "postgresql://, postgres://, postgresql+asyncpg://, sqlite+aiosqlite://"
    ]
