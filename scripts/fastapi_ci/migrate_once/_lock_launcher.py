"""Run a migration command under migrate-once's own lock, inside the migration's process.

NOT imported by fastapi-ci: `fastapi_ci.migrate_once.lock_launcher` ships this file's source
(with `fastapi_ci/migration_lock.py` embedded in MIGRATION_LOCK_SOURCE) as
`python3 -c SOURCE -- COMMAND...`, because the image (or the project's venv) that runs the
migration has no fastapi-ci, only its own SQLAlchemy and alembic. So: the standard library
at module level, Python 3.8 syntax, and SQLAlchemy imported only once the interpreter that
runs COMMAND is known.

How the lock gets around env.py: COMMAND (`alembic ...`, `python -m alembic ...`, any Python
script) runs IN THIS PROCESS after `EnvironmentContext.configure` is wrapped. When env.py
configures alembic with its connection, the wrapper first takes the migration lock on that
same connection (session-level `pg_try_advisory_lock` polled, MySQL `GET_LOCK`, a file lock
for SQLite); after env.py's `begin_transaction()` has committed, it logs the revision and
releases it. No URL is needed (env.py may build its own from any settings) and the lock
cannot outlive the migration's session, nor be lost while the migration goes on.

A command that is not a Python program, or an interpreter without SQLAlchemy or alembic, or a
database other than PostgreSQL, MySQL and SQLite: the command runs WITHOUT a lock, after one
`WARNING [fastapi-ci.migrate-once] no migration lock: REASON` line that migrate-once turns
into a warning on the terminal and in the summary.
"""

from __future__ import annotations

import contextlib
import os
import re
import runpy
import shutil
import sys
import types
from collections.abc import Iterator

MIGRATION_LOCK_SOURCE = ""  # replaced by fastapi_ci/migration_lock.py when shipped
LOCK_NAME = "fastapi-ci-migrate-once"
# Set to the interpreter this program re-executed itself with (never twice).
REEXEC_VARIABLE = "FASTAPI_CI_MIGRATE_ONCE_PYTHON"
PYTHON_NAME = re.compile(r"^python[0-9.]*$")
# libpq's own keepalives on alembic's connection (psycopg, psycopg2): a dead server is
# noticed in about a minute, instead of the kernel's two hours.
CLIENT_KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}
LIBPQ_DRIVERS = ("psycopg", "psycopg2", "psycopg2cffi")
LOCKABLE_DIALECTS = ("postgresql", "mysql", "mariadb", "sqlite")


def say(level: str, message: str) -> None:
    """One log line on stderr, flushed (a Kubernetes log stream shows it at once)."""
    print(f"{level:<5} [fastapi-ci.migrate-once] {message}", file=sys.stderr, flush=True)


class StderrLogger:
    """Stands in for migration_lock's logger: env.py's fileConfig must not silence it."""

    def info(self, message: str, *args: object) -> None:
        say("INFO", message % args)


def run_unlocked(argv: list[str], reason: str) -> None:
    """Say why there is no lock, then become the command (its exit code is ours)."""
    say("WARNING", f"no migration lock: {reason}; concurrent runs are NOT serialized")
    try:
        os.execvp(argv[0], argv)  # noqa: S606 (the user's command, as given)
    except OSError as error:
        print(f"{argv[0]}: {error.strerror}", file=sys.stderr)
        sys.exit(127)


def script_interpreter(path: str) -> str | None:
    """The Python that runs the script at `path` (its shebang), None if it is no Python script."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(1024).decode("utf-8", "replace").splitlines()
    except OSError:
        return None
    if not head or not head[0].startswith("#!"):
        return None
    words = head[0][2:].split()
    if words and os.path.basename(words[0]) == "env" and len(words) > 1:
        words = [shutil.which(words[1]) or words[1]]
    if words and PYTHON_NAME.match(os.path.basename(words[0])):
        return words[0]
    # pip/uv write a /bin/sh trampoline when the path is too long: the python beside it.
    if len(head) > 1 and head[1].startswith("'''exec'"):
        beside = os.path.join(os.path.dirname(os.path.realpath(path)), "python")
        return beside if os.path.exists(beside) else None
    return None


def resolve(argv: list[str]) -> tuple[str, str, str, list[str]] | None:
    """(interpreter, "module" | "script", module or path, args) of a Python command, else None."""
    path = shutil.which(argv[0])
    if path is None:
        return None
    if PYTHON_NAME.match(os.path.basename(argv[0])):
        rest = argv[1:]
        if len(rest) >= 2 and rest[0] == "-m":
            return path, "module", rest[1], rest[2:]
        if rest and not rest[0].startswith("-"):
            return path, "script", rest[0], rest[1:]
        return None  # other interpreter flags: run it as it is
    interpreter = script_interpreter(path)
    return (interpreter, "script", path, argv[1:]) if interpreter else None


def own_source() -> str:
    """This program's text (the argument of -c), to re-execute it with another interpreter."""
    arguments = list(getattr(sys, "orig_argv", []))
    if not arguments:  # Python < 3.10
        with open("/proc/self/cmdline", "rb") as handle:
            arguments = [part.decode() for part in handle.read().split(b"\0")]
    return str(arguments[arguments.index("-c") + 1])


def load_migration_lock() -> types.ModuleType:
    """migration_lock.py (embedded), its log lines written straight to stderr."""
    module = types.ModuleType("fastapi_ci_migration_lock")
    # Our own shipped source, not input: the image has no fastapi-ci to import it from.
    exec(compile(MIGRATION_LOCK_SOURCE, "migration_lock.py", "exec"), module.__dict__)  # noqa: S102
    module.logger = StderrLogger()  # type: ignore[attr-defined]
    return module


def install_lock(lock: types.ModuleType) -> None:
    """Wrap alembic's EnvironmentContext: lock on env.py's connection, release after commit."""
    from alembic.runtime.environment import EnvironmentContext
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    held: list[contextlib.AbstractContextManager[None]] = []
    taken = [False]
    original_configure = EnvironmentContext.configure
    original_begin = EnvironmentContext.begin_transaction

    def add_keepalives(
        dialect: object, record: object, cargs: object, cparams: dict[str, object]
    ) -> None:
        if getattr(dialect, "driver", "") in LIBPQ_DRIVERS:
            for key, value in CLIENT_KEEPALIVES.items():
                cparams.setdefault(key, value)

    def configure(self: object, *args: object, **kw: object) -> object:
        connection = kw.get("connection", args[0] if args else None)
        if connection is not None and not taken[0]:
            taken[0] = True
            dialect = connection.dialect.name  # type: ignore[attr-defined]
            if dialect not in LOCKABLE_DIALECTS:
                say("WARNING", f"no migration lock: fastapi-ci has none for {dialect}; "
                    "concurrent runs are NOT serialized")  # fmt: skip
            else:
                # A transaction env.py left open would be rolled back by the lock's polls:
                # commit it, as alembic's own begin_transaction would have.
                if connection.in_transaction():  # type: ignore[attr-defined]
                    connection.commit()  # type: ignore[attr-defined]
                manager = lock.migration_lock(
                    connection,
                    name=LOCK_NAME,
                    version_table=kw.get("version_table") or "alembic_version",
                    version_table_schema=kw.get("version_table_schema"),
                )
                manager.__enter__()
                held.append(manager)
        return original_configure(self, *args, **kw)  # type: ignore[arg-type]

    @contextlib.contextmanager
    def begin_transaction(self: object, *args: object, **kw: object) -> Iterator[object]:
        try:
            with original_begin(self, *args, **kw) as transaction:  # type: ignore[arg-type]
                yield transaction
        except BaseException:
            while held:
                with contextlib.suppress(Exception):  # the migration's error is the one to see
                    held.pop().__exit__(*sys.exc_info())
            raise
        while held:  # committed: log the revision now, release
            held.pop().__exit__(None, None, None)

    event.listen(Engine, "do_connect", add_keepalives)
    EnvironmentContext.configure = configure  # type: ignore[method-assign,assignment]
    EnvironmentContext.begin_transaction = begin_transaction  # type: ignore[method-assign,assignment]


def main() -> None:
    argv = sys.argv[1:]
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if shutil.which(argv[0]) is None:
        say("ERROR", f"command not found: {argv[0]}")  # migrate-once: bad input 'command'
        sys.exit(127)
    found = resolve(argv)
    if found is None:
        run_unlocked(argv, f"{argv[0]!r} is not a Python program migrate-once can run")
        return
    interpreter, kind, target, args = found
    same = os.path.abspath(interpreter) == os.path.abspath(sys.executable)
    if not same and os.environ.get(REEXEC_VARIABLE) != interpreter:
        os.environ[REEXEC_VARIABLE] = interpreter
        os.execv(interpreter, [interpreter, "-c", own_source(), "--", *argv])  # noqa: S606
    try:
        import alembic.runtime.environment  # noqa: F401
        import sqlalchemy  # noqa: F401

        lock = load_migration_lock()
    except ImportError as error:
        run_unlocked(argv, f"{interpreter} cannot import it ({error})")
        return
    install_lock(lock)
    sys.argv = [target, *args]
    if kind == "module":
        sys.path[0] = os.getcwd()  # as `python -m` does
        runpy.run_module(target, run_name="__main__", alter_sys=True)
    else:
        sys.path[0] = os.path.dirname(os.path.abspath(target))  # as running the script does
        runpy.run_path(target, run_name="__main__")


if __name__ == "__main__":
    main()
