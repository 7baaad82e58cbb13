"""The local runner: the migration command as a subprocess (a CI runner or a laptop)."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from fastapi_ci.action_io import Console
from fastapi_ci.errors import InputError
from fastapi_ci.migrate_once.runners import MigrationJob, RunOutcome
from fastapi_ci.project_python import find_project_environment

# After a timeout's SIGTERM, how long the command gets to roll back and close its session.
TERMINATE_GRACE_SECONDS = 10.0


def pump_lines(stream: IO[str], console: Console, into: list[str]) -> None:
    """Echo each line of `stream` to the log as it arrives and keep it for parsing."""
    for line in stream:
        into.append(line)
        console.info(line.rstrip("\n"))


@dataclass
class LocalRunner:
    """Run the command in `working_directory` with this environment plus the job's env."""

    working_directory: Path
    name: str = "local"

    def run(self, job: MigrationJob, console: Console) -> RunOutcome:
        """Start the command, stream its output, and stop it at the timeout."""
        if not self.working_directory.is_dir():
            raise InputError(
                "working-directory",
                f"{self.working_directory} is not a directory",
                fix="give the directory that holds alembic.ini, relative to the working directory",
                docs="migrate-once#migrate-once",
            )
        try:
            process = subprocess.Popen(
                job.command,
                cwd=self.working_directory,
                env=_with_project_environment(self.working_directory, {**os.environ, **job.env}),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                errors="replace",
                # Its own process group, so a timeout stops a wrapper script's children too
                # (an orphaned `alembic` would keep the migration lock).
                process_group=0,
            )
        except FileNotFoundError:
            raise InputError(
                "command", f"{job.command[0]!r} was not found (in {self.working_directory})"
            ) from None
        except PermissionError:
            raise InputError("command", f"{job.command[0]!r} is not executable") from None
        lines: list[str] = []
        assert process.stdout is not None
        reader = threading.Thread(target=pump_lines, args=(process.stdout, console, lines))
        reader.start()
        failure = ""
        try:
            process.wait(timeout=job.timeout_seconds)
        except subprocess.TimeoutExpired:
            failure = f"timed out after {job.timeout_seconds:.0f}s"
            _stop_group(process)
        except BaseException:  # Ctrl-C or a cancelled job: do not leave the migration behind
            _stop_group(process)
            raise
        finally:
            reader.join()
        return RunOutcome(
            exit_code=None if failure else process.returncode,
            logs="".join(lines),
            where=f"pid {process.pid} in {self.working_directory}",
            failure=failure,
        )


def _with_project_environment(directory: Path, env: dict[str, str]) -> dict[str, str]:
    """`env` with the project's virtualenv first on PATH, as if activated: `alembic` is
    found there when that venv is not the directory's own `.venv` (a uv workspace's root
    `.venv`, Poetry's) and nothing put it on PATH."""
    venv = find_project_environment(directory, env)
    if venv is None:
        return env
    bin_dir = str(venv.absolute() / "bin")
    return {**env, "PATH": os.pathsep.join([bin_dir, env.get("PATH", os.defpath)])}


def _stop_group(process: subprocess.Popen[str]) -> None:
    """SIGTERM the command's process group, then SIGKILL it after the grace period."""
    for sig, wait in ((signal.SIGTERM, TERMINATE_GRACE_SECONDS), (signal.SIGKILL, None)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
