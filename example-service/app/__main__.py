"""``python -m app``: check the configuration, then replace this process with gunicorn."""

import os
import sys

from pydantic import ValidationError

from app.core.config import Settings, settings_error_message


def gunicorn_argv(settings: Settings) -> list[str]:
    """The gunicorn command line that serves ``app.main:app`` with ``settings``."""
    host = f"[{settings.HOST}]" if ":" in settings.HOST else settings.HOST
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "app.main:app",
        "--worker-class=uvicorn_worker.UvicornWorker",
        f"--workers={settings.WEB_CONCURRENCY}",
        f"--bind={host}:{settings.PORT}",
        # SO_REUSEPORT lets a new container bind the same host port before the old one
        # stops, which rolling updates on host networking (Docker Swarm) rely on.
        "--reuse-port",
        f"--graceful-timeout={settings.GRACEFUL_TIMEOUT_SECONDS}",
        # The runtime-control socket would need a writable $HOME; nothing here uses it.
        "--no-control-socket",
        "--logger-class=app.core.logging.GunicornLogger",
        f"--log-level={settings.LOG_LEVEL.lower()}",
        # No --access-logfile: RequestContextMiddleware logs each request as JSON.
    ]


def main() -> None:
    """Exit 2 with one line on stderr if the configuration is invalid; otherwise exec gunicorn."""
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"error: {settings_error_message(exc)}", file=sys.stderr)
        raise SystemExit(2) from None
    argv = gunicorn_argv(settings)
    # exec, not a child process: gunicorn takes over this PID and receives the
    # orchestrator's SIGTERM directly (it is PID 1 in the container). Fixed argv, no shell.
    os.execvp(argv[0], argv)  # noqa: S606  # nosec B606


if __name__ == "__main__":
    main()
