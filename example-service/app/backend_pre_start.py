"""``python -m app.backend_pre_start``: wait until the database answers (run before migrations)."""

import argparse
import asyncio
import logging
import sys
import time

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.config import Settings, settings_error_message
from app.core.db import create_engine, describe_db_error, ping
from app.core.logging import configure_logging

logger = logging.getLogger("app.backend_pre_start")  # not __main__ under `python -m`


async def wait_for_database(
    engine: AsyncEngine, *, wait_seconds: float, interval: float = 1.0
) -> bool:
    """Ping until the database answers or ``wait_seconds`` pass; True if it answered."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            await ping(engine, within=max(deadline - time.monotonic(), 0.1))
        except Exception as exc:
            reason = "timed out" if isinstance(exc, TimeoutError) else describe_db_error(exc)
            if time.monotonic() + interval >= deadline:
                logger.error("database still unreachable after %gs: %s", wait_seconds, reason)
                return False
            logger.info("waiting for the database: %s", reason)
            await asyncio.sleep(interval)
        else:
            logger.info("database is up")
            return True


async def _wait(settings: Settings, wait_seconds: float) -> bool:
    engine = create_engine(settings)
    try:
        return await wait_for_database(engine, wait_seconds=wait_seconds)
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    """Exit 0 once the database answers, 1 if it never does, 2 on bad configuration."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait (60)")
    args = parser.parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"error: {settings_error_message(exc)}", file=sys.stderr)
        return 2
    configure_logging(settings.LOG_LEVEL)
    return 0 if asyncio.run(_wait(settings, args.timeout)) else 1


if __name__ == "__main__":
    sys.exit(main())
