"""migrate-once: run `alembic upgrade head` exactly once, with the NEW image, before the rollout.

Two commands:

* `migrate-once` runs the migration command as a one-shot job on the chosen runner (a local
  process, a container, a Kubernetes Job, an ECS task), waits for it within a timeout,
  shows its logs, and passes only on exit code 0. Concurrent runs serialize on a lock that
  migrate-once takes itself, inside the migration's process, around alembic's own connection
  (`fastapi_ci.migrate_once.lock_launcher`): no edit to env.py, the same on every runner.
* `migration-lint` refuses new revisions that would break the release still running (N-1)
  or lock busy tables: see `fastapi_ci.migrate_once.lint`.
"""

from __future__ import annotations

import json
import re
import shlex
import socket
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr

from fastapi_ci.action_io import (
    Action,
    ActionInputs,
    ActionResult,
    Annotation,
    Console,
    input_name,
    markdown_cell,
)
from fastapi_ci.errors import CheckFailed, InputError
from fastapi_ci.migrate_once.lint import MigrationLintInputs, run_migration_lint
from fastapi_ci.migrate_once.lock_launcher import launcher_command
from fastapi_ci.migrate_once.migration_log import MigrationLog, parse_migration_log
from fastapi_ci.migrate_once.runners import MigrationJob, Runner, RunOutcome
from fastapi_ci.step_summary import summary_from_template

__all__ = ["MIGRATE_ONCE", "MIGRATION_LINT", "MigrateOnceInputs", "run_migrate_once"]

RunnerName = Literal["local", "docker", "kubernetes", "ecs"]
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DEFAULT_PORTS = {"postgresql": 5432, "postgres": 5432, "mysql": 3306, "mariadb": 3306}
DATABASE_PROBE_SECONDS = 5.0
# The lock launcher's exit code when the command is not found (as a shell's).
EXIT_COMMAND_NOT_FOUND = 127
# The step summary shows the end of the log; the whole log is in the job's log already.
SUMMARY_LOG_LINES = 80


class MigrateOnceInputs(ActionInputs):
    """The inputs of `actions/migrate-once/action.yml` (and the flags of the subcommand)."""

    runner: RunnerName = Field(
        description="Where the migration runs: local, docker, kubernetes or ecs."
    )
    image: str | None = Field(
        default=None,
        description="The NEW image to migrate with (docker, kubernetes; ecs: registers a "
        "task definition revision with it).",
    )
    command: str = Field(
        default="alembic upgrade head",
        description="The migration command, shell-split (no shell runs it).",
        json_schema_extra={"multiline": True},
    )
    timeout: float = Field(
        default=600, gt=0, le=6 * 3600, description="Seconds the migration may take in all."
    )
    working_directory: str = Field(
        default=".", description="Where the local runner runs the command."
    )
    lock: bool = Field(
        default=True,
        description="Serialize concurrent runs: take a database lock inside the migration's "
        "process, around alembic's own connection (needs python3 with SQLAlchemy 2 where the "
        "command runs).",
    )
    env: list[str] = Field(
        default_factory=list,
        description="Environment for the migration: NAME=VALUE, or NAME to copy it from "
        "this step's environment (keeps secrets out of the workflow file).",
    )
    database_url: SecretStr | None = Field(
        default=None, description="Passed to the migration as DATABASE_URL (masked)."
    )
    namespace: str = Field(default="default", description="Kubernetes namespace of the Job.")
    deployment: str | None = Field(
        default=None,
        description="Kubernetes Deployment whose container env/envFrom, service account, pull "
        "secrets, network and node placement the Job copies.",
    )
    container: str | None = Field(
        default=None,
        description="The container to copy from (kubernetes) or override (ecs); default: "
        "the first.",
    )
    kube_context: str | None = Field(
        default=None, description="kubeconfig context (default: in-cluster, else current)."
    )
    cluster: str | None = Field(default=None, description="ECS cluster name or ARN.")
    task_definition: str | None = Field(
        default=None, description="ECS task definition (family:revision or ARN) to run."
    )
    service: str | None = Field(
        default=None,
        description="ECS service whose network configuration and launch type the task copies.",
    )
    report_path: str | None = Field(default=None, description="Where to write the JSON report.")

    def cross_input_errors(self, env: Mapping[str, str]) -> list[InputError]:
        """The command splits, env names are names, the database URL's port is a number, and
        the chosen runner has the inputs it needs."""
        errors = [*self._command_errors(), *self._value_errors()]
        needed = {
            "docker": ("image",),
            "kubernetes": ("image",),
            "ecs": ("cluster", "task_definition"),
        }.get(self.runner, ())
        errors += [
            InputError(
                input_name(name),
                f"is required with runner {self.runner}",
                why=RUNNER_NEEDS.get(name, ""),
                fix=f"set {input_name(name)}, or choose another runner",
                docs="migrate-once#migrate-once",
                related=("runner",),
            )
            for name in needed
            if not getattr(self, name)
        ]
        return errors

    def _command_errors(self) -> list[InputError]:
        why = "the command runs without a shell, so it is split into words as a shell would"
        try:
            words = shlex.split(self.command)
        except ValueError as error:
            return [
                InputError(
                    "command",
                    f"cannot split {self.command!r}: {error}",
                    why=why,
                    fix="close the quote, or escape it with a backslash",
                )
            ]
        if not words:
            return [
                InputError("command", "is empty", why=why, fix="leave it unset for the default")
            ]
        return []

    def _value_errors(self) -> list[InputError]:
        errors = []
        bad_names = [
            name
            for name in (item.partition("=")[0] for item in self.env)
            if not ENV_NAME.match(name)
        ]
        if bad_names:
            errors.append(
                InputError(
                    "env",
                    f"not a valid environment variable name: {', '.join(map(repr, bad_names))}",
                    why="a process environment holds only names of letters, digits and _ "
                    "(not starting with a digit)",
                    fix="write each item as NAME=VALUE, or NAME to copy it from this step",
                    docs="migrate-once#migrate-once",
                )
            )
        if self.database_url is not None and not _port_is_a_number(
            self.database_url.get_secret_value()
        ):
            errors.append(
                InputError(
                    "database-url",
                    "the port is not a number",
                    fix="write it as scheme://user:password@host:5432/database",
                )
            )
        return errors


# Why each runner-specific input is needed, from the user's side.
RUNNER_NEEDS = {
    "image": "the migration must run with the NEW image, the code of the version being "
    "deployed, not whatever the runner has",
    "cluster": "the task runs in an ECS cluster, which has no default here",
    "task_definition": "the task is started from a task definition (the NEW image's revision)",
}


def _port_is_a_number(url: str) -> bool:
    try:
        urlsplit(url).port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        return False
    return True


def migration_environment(inputs: MigrateOnceInputs, environ: dict[str, str]) -> dict[str, str]:
    """The variables the migration gets on top of its runner's own environment."""
    variables: dict[str, str] = {}
    for item in inputs.env:
        name, has_value, value = item.partition("=")  # a name: the model checked it
        if not has_value:
            if name not in environ:
                raise InputError(
                    "env",
                    f"{name} is not set in this step's environment",
                    why="an item without `=` copies the variable from this step's environment",
                    fix=f"set {name} in the step's `env:` (from a secret), or write {name}=VALUE",
                    docs="migrate-once#migrate-once",
                )
            value = environ[name]
        variables[name] = value
    if inputs.database_url is not None:
        variables["DATABASE_URL"] = inputs.database_url.get_secret_value()
    return variables


def probe_database(url: str) -> None:
    """Fail in one line, before starting anything, when the database's port does not answer."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return  # SQLite, a Unix socket, an unknown scheme: nothing to probe from here
    try:
        port = parts.port or DEFAULT_PORTS[scheme]
    except ValueError:
        raise InputError("database-url", "the port is not a number") from None
    try:
        socket.create_connection((parts.hostname, port), timeout=DATABASE_PROBE_SECONDS).close()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise CheckFailed(
            f"the database at {parts.hostname}:{port} is unreachable: {reason}",
            why="the migration would fail the same way after its job had started; checked "
            "first, it fails in one line",
            fix="check DATABASE_URL and that the database accepts connections from this runner",
        ) from None


def build_runner(inputs: MigrateOnceInputs) -> Runner:
    """The runner for `inputs.runner`, after checking the inputs that runner needs."""

    def require(value: str | None, name: str) -> str:
        assert value, f"cross_input_errors: {name} is required with runner {inputs.runner}"
        return value

    if inputs.runner == "local":
        from fastapi_ci.migrate_once.runners.local import LocalRunner

        return LocalRunner(working_directory=Path(inputs.working_directory))
    if inputs.runner == "docker":
        from fastapi_ci.migrate_once.runners.docker_engine import DockerRunner

        require(inputs.image, "image")
        return DockerRunner()
    if inputs.runner == "kubernetes":
        from fastapi_ci.migrate_once.runners.kubernetes import KubernetesRunner

        require(inputs.image, "image")
        return KubernetesRunner.from_kubeconfig(
            namespace=inputs.namespace,
            deployment=inputs.deployment,
            container=inputs.container,
            context=inputs.kube_context,
        )
    from fastapi_ci.migrate_once.runners.ecs import EcsRunner

    return EcsRunner.from_environment(
        cluster=require(inputs.cluster, "cluster"),
        task_definition=require(inputs.task_definition, "task-definition"),
        service=inputs.service,
        container=inputs.container,
    )


def run_migrate_once(
    inputs: MigrateOnceInputs, console: Console, runner: Runner | None = None
) -> ActionResult:
    """Run the migration once on the chosen runner and judge it by its exit code."""
    command = shlex.split(inputs.command)  # the model checked it splits into words
    env = migration_environment(inputs, dict(console.env))
    chosen = runner or build_runner(inputs)
    database_url = env.get("DATABASE_URL") or (
        console.env.get("DATABASE_URL", "") if inputs.runner == "local" else ""
    )
    if database_url and inputs.runner in ("local", "docker"):
        probe_database(database_url)  # from here the runner sees what the migration sees
    if inputs.runner == "ecs" and env:
        # ECS container overrides are plain text to anyone with ecs:DescribeTasks (and in
        # CloudTrail); the log mask does not reach there.
        console.warning(
            f"{', '.join(sorted(env))} will be readable in the ECS task's overrides; put "
            "secrets in the task definition's `secrets` (Secrets Manager / SSM) instead",
            title="migrate-once",
        )
    if inputs.lock:
        # Locally the launcher starts with our interpreter and re-runs itself with the
        # command's; in an image, with the image's python3.
        command = launcher_command(
            command, sys.executable if inputs.runner == "local" else "python3"
        )
    job = MigrationJob(command=command, env=env, timeout_seconds=inputs.timeout, image=inputs.image)
    started = time.monotonic()
    with console.group(f"migrate-once: {inputs.command} ({inputs.runner})"):
        outcome = chosen.run(job, console)
    duration = time.monotonic() - started
    log = parse_migration_log(outcome.logs)
    if log.command_not_found and outcome.exit_code == EXIT_COMMAND_NOT_FOUND:
        where = inputs.working_directory if inputs.runner == "local" else inputs.image
        raise InputError(
            "command",
            f"{log.command_not_found!r} was not found (in {where})",
            why="the command runs where the migration runs (the NEW image, or the working "
            "directory), not on the runner",
            fix="install it there, or give its full path",
            docs="migrate-once#migrate-once",
        )
    unserialized = unserialized_because(inputs, log)
    if unserialized:
        console.warning(f"concurrent runs are NOT serialized: {unserialized}", title="migrate-once")
    return migration_result(inputs, outcome, log, duration, console)


def unserialized_because(inputs: MigrateOnceInputs, log: MigrationLog) -> str:
    """Why this run held no lock against concurrent runs ("" when it held one)."""
    if not inputs.lock:
        return "lock is false"
    return log.no_lock_because or ""


def _failure_message(outcome: RunOutcome, log: MigrationLog) -> str:
    cause = outcome.failure or f"exit code {outcome.exit_code}"
    return f"migration failed ({cause})" + (f": {log.error}" if log.error else "")


def migration_result(
    inputs: MigrateOnceInputs,
    outcome: RunOutcome,
    log: MigrationLog,
    duration: float,
    console: Console,
) -> ActionResult:
    """Outputs, summary, report and gate for one finished (or failed) migration run."""
    passed = outcome.succeeded
    applied = " ".join(log.applied)
    outputs = {
        "revision-before": log.revision_before or "",
        # After a failure the database's state is whatever the migration's transactions
        # left: not knowable from the log, so it is not guessed.
        "revision-after": (log.revision_after or "") if passed else "",
        "applied": applied if passed else "",
        "duration": f"{duration:.1f}",
    }
    report = {
        "passed": passed,
        "runner": inputs.runner,
        "where": outcome.where,
        "exit_code": outcome.exit_code,
        "failure": outcome.failure,
        "error": log.error,
        "applied": log.applied if passed else [],
        "revision_before": log.revision_before,
        "revision_after": log.revision_after if passed else None,
        "lock_wait_seconds": log.lock_wait_seconds,
        "unserialized_because": unserialized_because(inputs, log) or None,
        "duration_seconds": round(duration, 3),
        **outcome.details,
    }
    written = console.write_report(
        "migrate-once", json.dumps(report, indent=2, sort_keys=True) + "\n", inputs.report_path
    )
    outputs["report-path"] = str(written or "")
    if passed:
        what = f"applied {applied}" if log.applied else "nothing to apply (already at head)"
        text = f"migration succeeded in {duration:.1f}s: {what}"
        annotations: list[Annotation] = []
    else:
        text = _failure_message(outcome, log)
        annotations = [Annotation(level="error", message=text, title="migrate-once")]
    return ActionResult(
        passed=passed,
        text=text,
        summary=render_summary(passed, text, inputs, outcome, outputs, log),
        outputs=outputs,
        report=report,
        annotations=annotations,
    )


def render_summary(
    passed: bool,
    text: str,
    inputs: MigrateOnceInputs,
    outcome: RunOutcome,
    outputs: dict[str, str],
    log: MigrationLog,
) -> str:
    """The step summary: a status line, a table, and the end of the log in a <details>."""
    tail = outcome.logs.splitlines()[-SUMMARY_LOG_LINES:]
    unserialized = unserialized_because(inputs, log)
    if unserialized:
        lock = f"⚠️ NONE, concurrent runs are not serialized: {unserialized}"
    elif log.lock_wait_seconds is not None:
        lock = f"held, after waiting {log.lock_wait_seconds:.1f}s"
    else:
        lock = "(never taken: the command opened no migration connection)"
    rows = [
        ("runner", f"{inputs.runner}: {outcome.where}"),
        ("command", f"`{inputs.command}`"),
        ("revision before", f"`{outputs['revision-before'] or '(none)'}`"),
        ("revision after", f"`{outputs['revision-after'] or '(none)'}`"),
        ("applied", outputs["applied"] or "(nothing)"),
        ("lock", lock),
        ("duration", f"{outputs['duration']}s"),
    ]
    table = "\n".join(["| | |", "|---|---|", *(f"| {k} | {markdown_cell(v)} |" for k, v in rows)])
    return summary_from_template(
        "fastapi_ci.migrate_once",
        {
            "status_icon": "✅" if passed else "❌",
            "headline": text,
            "table": table,
            "log_line_count": len(tail),
            "log": "\n".join(tail) if tail else "(no output)",
        },
    )


MIGRATE_ONCE = Action(
    name="migrate-once",
    help="Run the database migration once, as a one-shot job with the new image, before the "
    "rollout (local, docker, kubernetes or ecs).",
    inputs=MigrateOnceInputs,
    run=run_migrate_once,
)
MIGRATION_LINT = Action(
    name="migration-lint",
    help="Refuse alembic revisions that would break the running release (N-1) or lock busy "
    "tables: squawk on the rendered SQL, drift (alembic check) and a single head.",
    inputs=MigrationLintInputs,
    run=run_migration_lint,
)
