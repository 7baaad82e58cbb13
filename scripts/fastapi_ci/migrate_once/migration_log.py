"""Read what a migration did from its log: the revisions applied, before/after, the error.

Every runner ends with the same thing, the migration's combined output, so the outputs of
migrate-once come from there rather than from a database connection of our own (on
Kubernetes or ECS the database is often unreachable from the CI runner). Two sources:

* alembic's own INFO lines, `Running upgrade 0001 -> 0002, message` (any alembic.ini that
  keeps the `alembic` logger at INFO, as the default does);
* the migration lock helper's lines (`fastapi_ci.migration_lock`), which also say where the
  database was when nothing had to be applied.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_UPGRADE = re.compile(r"Running upgrade (?P<source>.*?) -> (?P<target>[^,\s]+)")
_LOCK_ACQUIRED = re.compile(
    r"migration lock '[^']*' acquired after (?P<waited>[\d.]+)s; "
    r"database at revision '(?P<revision>[^']*)'"
)
_LOCK_RELEASED = re.compile(
    r"migration lock '[^']*' released; database at revision '(?P<revision>[^']*)'"
)
# migrate-once's launcher (`_lock_launcher.py`) when it cannot take its lock.
_NO_LOCK = re.compile(r"\[fastapi-ci\.migrate-once\] no migration lock: (?P<reason>.+)$")
_NOT_FOUND = re.compile(r"\[fastapi-ci\.migrate-once\] command not found: (?P<command>.+)$")
# The last line of a traceback ("sqlalchemy.exc.ProgrammingError: (psycopg...) ...") or
# alembic's one-line CommandError ("FAILED: ...").
_ERROR_LINE = re.compile(
    r"^(FAILED: .+|(?:[A-Za-z_][\w]*\.)*[A-Za-z_]\w*(?:Error|Exception|Timeout)\w*: .+)$"
)


@dataclass
class MigrationLog:
    """What one migration run's log says it did."""

    applied: list[str] = field(default_factory=list)
    revision_before: str | None = None
    revision_after: str | None = None
    lock_wait_seconds: float | None = None
    error: str | None = None
    no_lock_because: str | None = None
    command_not_found: str | None = None


def _revision(raw: str) -> str:
    return ",".join(part.strip() for part in raw.split(",") if part.strip())


def parse_migration_log(text: str) -> MigrationLog:
    """Everything `text` (a migration's stdout and stderr) reveals; None where it is silent."""
    log = MigrationLog()
    first_source: str | None = None
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if match := _UPGRADE.search(line):
            if first_source is None:
                first_source = _revision(match["source"])
            log.applied.append(match["target"])
        elif match := _LOCK_ACQUIRED.search(line):
            # migrate-once's lock and env.py's own, when it has one: waited for both.
            log.lock_wait_seconds = (log.lock_wait_seconds or 0.0) + float(match["waited"])
            log.revision_before = match["revision"]
        elif match := _LOCK_RELEASED.search(line):
            log.revision_after = match["revision"]
        elif match := _NO_LOCK.search(line):
            log.no_lock_because = match["reason"]
        elif match := _NOT_FOUND.search(line):
            log.command_not_found = match["command"]
        elif _ERROR_LINE.match(line):
            log.error = line
    if log.revision_before is None and first_source is not None:
        log.revision_before = first_source
    if log.revision_after is None and log.error is None:
        # Nothing applied: still where it was (at head, when the lock said where that is).
        log.revision_after = log.applied[-1] if log.applied else log.revision_before
    return log
