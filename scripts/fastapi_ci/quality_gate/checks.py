"""The checks of the gate: one function per check, each returning a `CheckResult`.

Where each tool runs, and why (`tools` decides; the report names the version and where):

* ruff (lint and format) runs from the project's environment when it has ruff (the project
  pinned its version: the gate must agree with its developers' `ruff check`), else from
  fastapi-ci's own. bandit and pip-audit, which never import the project's code, always
  run from fastapi-ci's environment (`sys.executable -m <tool>`, never from PATH).
* mypy and pytest must import the project's dependencies, so they run with the project's
  interpreter (the `python` input); `project.probe_interpreter` has checked it has them.

Every tool runs with the project root as its working directory, so it reads the project's
own configuration (pyproject.toml, mypy.ini, setup.cfg, .coveragerc) when there is one.
A check never raises for a finding: it reports, and the gate goes on with the others.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import json
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from fastapi_ci.action_io import Annotation
from fastapi_ci.quality_gate import locks, parsers, ruff_config, shard_rerun
from fastapi_ci.quality_gate.locks import AuditTarget
from fastapi_ci.quality_gate.project import Project
from fastapi_ci.quality_gate.tools import Tool, tools_for

CheckStatus = Literal["passed", "failed", "unavailable", "error", "skipped"]

# Raw output kept per check for the summary's <details>: the end is where tools say why.
OUTPUT_TAIL_CHARS = 20_000


class CheckResult(BaseModel):
    """The verdict of one check, the same shape for every tool."""

    name: str
    status: CheckStatus
    blocking: bool = Field(description="True when this result closes the gate.")
    findings: int = 0
    duration_s: float = 0.0
    detail: str = Field(default="", description="One line for the table and the terminal.")
    annotations: list[Annotation] = Field(default_factory=list)
    command: list[str] = Field(default_factory=list)
    output: str = Field(default="", description="The tool's own output (its tail).")
    tool: str = Field(default="", description="Which tool ran: its version and from where.")
    coverage: parsers.CoverageReport | None = Field(default=None, exclude=True)


class ProcessSlots:
    """At most `size` tool processes at once, granted in priority order.

    The bound is on processes, not on checks, because one check (the sharded tests) runs
    several. Priority is the check's place in `CHECKS` (the long ones first), so the
    slowest work starts early and the quick checks fill in around it. Checks announced
    with `expect` hold back lower priorities until they ask for their first slot: without
    that, whichever thread happens to start first would take the CPUs.

    Spare slots (`open_spare`) are for processes that run at low CPU priority beside the
    tests: granted only when every slot is taken, and only until `close_spare`.
    """

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self._free = self.size
        self._spare_free = 0
        self._spare_open = False
        self._waiting: list[tuple[int, int]] = []
        self._expected: set[int] = set()
        self._tickets = itertools.count()
        self._changed = threading.Condition()

    def expect(self, priorities: Iterable[int]) -> None:
        """Announce checks that will ask for slots soon."""
        with self._changed:
            self._expected.update(priorities)

    def forget(self, priority: int) -> None:
        """A check is over: it no longer holds anybody back (even if it never asked)."""
        with self._changed:
            self._expected.discard(priority)
            self._changed.notify_all()

    def open_spare(self, count: int) -> None:
        """Add `count` spare slots, for processes that will run at low CPU priority."""
        with self._changed:
            self._spare_free += count
            self._spare_open = True
            self._changed.notify_all()

    def close_spare(self) -> None:
        """No more spare slots granted (those held run on until released)."""
        with self._changed:
            self._spare_open = False

    def acquire(self, priority: int, count: int = 1) -> int:
        """Wait for `count` slots (at most all of them) and take them; return how many."""
        count = min(count, self.size)
        self._take(priority, count, spare_ok=False)
        return count

    def _take(self, priority: int, count: int, spare_ok: bool) -> bool:
        """Wait for `count` slots, or one spare slot when `spare_ok` and none is free;
        take them and return True when it is a spare one."""
        ticket = (priority, next(self._tickets))

        def my_turn() -> bool:
            first_in_line = self._waiting[0] == ticket
            nobody_before = all(expected >= priority for expected in self._expected)
            spare = spare_ok and self._spare_open and self._spare_free > 0
            return first_in_line and nobody_before and (self._free >= count or spare)

        with self._changed:
            self._expected.discard(priority)
            heapq.heappush(self._waiting, ticket)
            self._changed.wait_for(my_turn)
            heapq.heappop(self._waiting)
            spare = self._free < count
            if spare:
                self._spare_free -= 1
            else:
                self._free -= count
            self._changed.notify_all()  # the next in line may take another free slot
        return spare

    def release(self, count: int = 1, spare: bool = False) -> None:
        """Give back slots taken with `acquire` (or the spare one `slot` took)."""
        with self._changed:
            if spare:
                self._spare_free += 1
            else:
                self._free += count
            self._changed.notify_all()

    @contextmanager
    def slot(self, priority: int, spare_ok: bool = False) -> Iterator[bool]:
        """Hold one slot for the duration of the `with` block; yields True when it is a
        spare one (when `spare_ok` and every slot is taken)."""
        spare = self._take(priority, 1, spare_ok)
        try:
            yield spare
        finally:
            self.release(spare=spare)


class BesideTests:
    """Runs processes at low CPU priority while the tests run, and gives it back after.

    The tests are the gate's critical path; the other checks only need to end with them.
    At equal priority, whatever runs beside the shards takes CPU time from them: pip-audit
    (network-bound, so it never waits for a slot) starts with ~0.5 s of CPU just when the
    shards start theirs (measured on example-service: their start-up 0.3 s slower), and
    the quick checks, queued for the CPUs the shards free, ran after them (mypy, bandit and
    ruff: 0.5 s after shards that ended together). At low priority the kernel gives them
    the CPU time the tests leave idle (a test sleeping or waiting on a socket) and almost
    nothing of the time a test wants. Once the tests are done, what still runs gets its
    priority back, and what starts later starts at normal priority.

    The gate lowers a priority only where it can raise it back (`can_restore_priority`):
    otherwise other work on the machine could starve a check after the tests are done.
    """

    NICENESS = 19
    """How much lower than the gate's own (at most 19: ~1.5% of a CPU a test wants)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lowered: list[tuple[subprocess.Popen[str], int]] = []
        self._tests_done = False

    def started(self, process: subprocess.Popen[str]) -> None:
        """Lower a process just started (before it has done any real work; not with
        `preexec_fn`, which is unsafe in a threaded program)."""
        with self._lock:
            if self._tests_done:
                return
            try:
                niceness = os.getpriority(os.PRIO_PROCESS, process.pid)
            except (AttributeError, OSError):
                return
            if _set_niceness(process.pid, min(19, niceness + self.NICENESS)):
                self._lowered.append((process, niceness))

    def ended(self, process: subprocess.Popen[str]) -> None:
        """Forget a process that has exited."""
        with self._lock:
            self._lowered = [entry for entry in self._lowered if entry[0] is not process]

    def tests_done(self) -> None:
        """Their own priority back for the processes still running; none lowered from now."""
        with self._lock:
            self._tests_done = True
            for process, niceness in self._lowered:
                if process.poll() is None:
                    _set_niceness(process.pid, niceness)
            self._lowered.clear()


# Linux capability that allows raising a process's priority (see capabilities(7)).
_CAP_SYS_NICE = 23


def can_restore_priority() -> bool:
    """True when the gate may raise a priority it lowered back to its own: with the
    CAP_SYS_NICE capability (root, usually), or an RLIMIT_NICE that allows it."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
            if line.startswith("CapEff:") and int(line.split()[1], 16) >> _CAP_SYS_NICE & 1:
                return True
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource  # Unix only, hence here

        limit = resource.getrlimit(resource.RLIMIT_NICE)[0]
        own = os.getpriority(os.PRIO_PROCESS, 0)
    except (ImportError, AttributeError, OSError, ValueError):
        return False
    # RLIMIT_NICE lets a process lower its niceness down to 20 - limit.
    return limit == resource.RLIM_INFINITY or 20 - own <= limit


def _set_niceness(pid: int, niceness: int) -> bool:
    """Set a process's niceness; False where that is not possible (or not allowed)."""
    try:
        os.setpriority(os.PRIO_PROCESS, pid, niceness)
    except (AttributeError, OSError):
        return False
    return True


@dataclass(frozen=True)
class GateContext:
    """What every check needs to know, fixed before any check starts."""

    project: Project
    env: Mapping[str, str]
    work_dir: Path
    """A private temp dir for reports the tools write (JUnit XML, coverage data, exports)."""
    process_slots: ProcessSlots
    test_shards: int = 1
    """How many pytest processes share the test files (1: one plain pytest run)."""
    cache_dir: Path | None = None
    """fastapi-ci's own cache (the test files' last durations); None: nothing is kept."""
    mypy_has_json_output: bool = True
    requirements: Path | None = None
    audit_required: bool = False
    timeouts: Mapping[str, float] | None = None
    beside_tests: BesideTests | None = None
    """Set by `run_checks` when the network-bound checks run beside the tests."""
    bandit_severity: str = "low"
    """The lowest bandit severity that fails the check (lower ones are warnings)."""
    tools: Mapping[str, Tool] | None = None
    """The tool each check runs (`tools.tools_for`); None: as if the project had none."""

    def tool(self, check: str) -> Tool:
        """The copy of the tool `check` runs (the project's or fastapi-ci's)."""
        return (self.tools or tools_for(self.project.python, {}))[check]

    def timeout(self, check: str) -> float:
        """Seconds the check may run before it is stopped and reported as an error."""
        return (self.timeouts or {}).get(check, DEFAULT_TIMEOUTS[check])


def cache_root(env: Mapping[str, str]) -> Path | None:
    """fastapi-ci's own cache: $XDG_CACHE_HOME/fastapi-ci, else ~/.cache/fastapi-ci."""
    base = env.get("XDG_CACHE_HOME") or (
        str(Path(env["HOME"]) / ".cache") if env.get("HOME") else ""
    )
    return Path(base) / "fastapi-ci" if base else None


def tool_environment(env: Mapping[str, str], cache_dir: Path | None) -> dict[str, str]:
    """The environment the tools run in: the caller's, with a bytecode cache of our own when
    the caller turned Python's off.

    With PYTHONDONTWRITEBYTECODE set (common in containers), every Python process compiles
    every module it imports from source, every time. Measured on example-service: 2.0 s of
    a pytest process's 3.6 s start-up (~760 modules), and again in each test shard and in
    each Python subprocess the tests start. So, unless the caller chose a cache themselves
    (PYTHONPYCACHEPREFIX, even empty), the tools write their bytecode under our cache
    directory: nothing is written into the checkout or its virtualenv, which is what that
    variable is usually there to prevent, and the tools' results are the same.
    """
    if not env.get("PYTHONDONTWRITEBYTECODE") or "PYTHONPYCACHEPREFIX" in env or not cache_dir:
        return dict(env)
    tool_env = {name: value for name, value in env.items() if name != "PYTHONDONTWRITEBYTECODE"}
    tool_env["PYTHONPYCACHEPREFIX"] = str(cache_dir / "pycache")
    return tool_env


DEFAULT_TIMEOUTS: Mapping[str, float] = {
    "ruff": 300,
    "format": 300,
    "mypy": 900,
    "bandit": 600,
    "audit": 600,
    "tests": 3600,
}


@dataclass(frozen=True)
class ToolRun:
    """One finished (or timed-out) tool process."""

    command: list[str]
    returncode: int | None
    """None when the tool was stopped at its timeout."""
    stdout: str
    stderr: str
    duration_s: float

    @property
    def output(self) -> str:
        """Both streams, trimmed to their tail, for the summary's raw output."""
        combined = "\n".join(part for part in (self.stdout, self.stderr) if part.strip())
        return combined[-OUTPUT_TAIL_CHARS:]


def run_tool(
    command: Sequence[str],
    context: GateContext,
    check: str,
    extra_env: Mapping[str, str] | None = None,
    slot_held: bool = False,
) -> ToolRun:
    """Run one tool in the project root with the check's timeout; never raises for its result.

    It waits for a process slot first (unless the caller holds slots for it); its duration
    counts from when it really starts.
    """
    needs_slot = not slot_held and check not in NETWORK_BOUND_CHECKS
    beside = context.beside_tests if check != "tests" else None
    slot = (
        context.process_slots.slot(priority_of(check), spare_ok=beside is not None)
        if needs_slot
        else nullcontext(False)
    )
    with slot as spare:
        # Beside the tests: the network-bound checks, and the others in a spare slot.
        low = beside if spare or check in NETWORK_BOUND_CHECKS else None
        started = time.monotonic()
        try:
            returncode, stdout, stderr = _run_process(
                list(command),
                context.project.root,
                {**context.env, **(extra_env or {})},
                context.timeout(check),
                low,
            )
        except OSError as error:
            return ToolRun(list(command), 127, "", str(error), time.monotonic() - started)
    return ToolRun(list(command), returncode, stdout, stderr, time.monotonic() - started)


def _run_process(
    command: list[str],
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
    beside_tests: BesideTests | None,
) -> tuple[int | None, str, str]:
    """`subprocess.run(capture_output=True, text=True, timeout=...)`, with the process at
    low priority while the tests run when `beside_tests` is given. The exit code is None
    when the process was stopped at its timeout."""
    with subprocess.Popen(
        command, cwd=cwd, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        if beside_tests is not None:
            beside_tests.started(process)
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as expired:
            # As subprocess.run does: what was read so far (reading on could wait for the
            # tool's own children, which may hold its pipes open).
            process.kill()
            process.wait()
            return None, _text(expired.stdout), _text(expired.stderr)
        finally:
            if beside_tests is not None:
                beside_tests.ended(process)
        return process.returncode, stdout, stderr


def _text(stream: bytes | str | None) -> str:
    if isinstance(stream, bytes):
        return stream.decode("utf-8", "replace")
    return stream or ""


def _result(
    name: str, status: CheckStatus, run: ToolRun | None, detail: str, **fields: object
) -> CheckResult:
    blocking = status in ("failed", "error")
    return CheckResult.model_validate(
        {
            "name": name,
            "status": status,
            "blocking": fields.pop("blocking", blocking),
            "detail": detail,
            "duration_s": run.duration_s if run else 0.0,
            "command": run.command if run else [],
            "output": run.output if run else "",
            **fields,
        }
    )


def _tool_error(name: str, run: ToolRun, context: GateContext) -> CheckResult:
    """The tool itself broke (crash, bad config, timeout): an error, not a finding."""
    if run.returncode is None:
        detail = f"timed out after {context.timeout(name):.0f}s"
    else:
        last_line = next(
            (line for line in reversed(run.output.splitlines()) if line.strip()), "no output"
        )
        detail = f"exit code {run.returncode}: {last_line.strip()[:200]}"
    return _result(name, "error", run, detail)


def _findings_result(
    name: str,
    run: ToolRun,
    context: GateContext,
    parse: Callable[[str], list[Annotation]],
    source: str,
    finding_exit_codes: Sequence[int] = (1,),
) -> CheckResult:
    """The common case: exit 0 is clean, `finding_exit_codes` mean findings, anything else is
    the tool failing; findings are parsed from `source` (the stream holding the report)."""
    if run.returncode not in (0, *finding_exit_codes):
        return _tool_error(name, run, context)
    try:
        annotations = parse(source)
    except parsers.ToolOutputError as error:
        return _result(name, "error", run, str(error))
    if run.returncode == 0 and not annotations:
        return _result(name, "passed", run, "no findings")
    count = len(annotations) or 1  # a non-zero exit with nothing parsed is still a finding
    return _result(
        name,
        "failed",
        run,
        f"{count} finding{'s' if count != 1 else ''}",
        findings=count,
        annotations=annotations,
    )


# --- ruff -----------------------------------------------------------------------------------


def run_ruff(context: GateContext) -> CheckResult:
    """`ruff check`: lint with the project's ruff config (`--no-fix`: a gate never edits)."""
    run = run_tool(
        [
            *context.tool("ruff").command,
            "check",
            "--no-fix",
            "--output-format",
            "json",
            *ruff_config.exclude_override(context.project.root),
        ],
        context,
        "ruff",
    )
    return _findings_result(
        "ruff",
        run,
        context,
        lambda text: parsers.parse_ruff_check(text, context.project.repo_path),
        run.stdout,
    )


def run_format(context: GateContext) -> CheckResult:
    """`ruff format --check --diff`: the diff tells which lines would change."""
    run = run_tool(
        [
            *context.tool("format").command,
            "format",
            "--check",
            "--diff",
            *ruff_config.exclude_override(context.project.root),
        ],
        context,
        "format",
    )
    return _findings_result(
        "format",
        run,
        context,
        lambda text: parsers.parse_ruff_format_diff(text, context.project.repo_path),
        run.stdout,
    )


# --- mypy -----------------------------------------------------------------------------------


def mypy_command(context: GateContext) -> list[str]:
    """mypy with the project's interpreter, on its configured targets or its packages."""
    project = context.project
    targets = [] if project.mypy_config_names_targets() else project.source_dirs
    output = (
        ["-O", "json"]
        if context.mypy_has_json_output
        else ["--show-error-codes", "--show-column-numbers", "--no-error-summary", "--no-pretty"]
    )
    return [*context.tool("mypy").command, "--no-color-output", *output, *targets]


def run_mypy(context: GateContext) -> CheckResult:
    """Type-check; JSON output where mypy has it (>= 1.11), else its `file:line:` lines."""
    run = run_tool(mypy_command(context), context, "mypy")
    parse = parsers.parse_mypy_json if context.mypy_has_json_output else parsers.parse_mypy_text
    return _findings_result(
        "mypy",
        run,
        context,
        lambda text: parse(text, context.project.repo_path),
        run.stdout,
    )


# --- bandit ---------------------------------------------------------------------------------

# bandit's own default exclusions, plus environments and tests (asserts are fine there).
_BANDIT_EXCLUDES = (
    ".svn,CVS,.bzr,.hg,.git,__pycache__,.tox,.nox,.eggs,*.egg,.venv,venv,tests,test,build,dist"
)


def bandit_command(context: GateContext) -> list[str]:
    """bandit on the source; the project's `[tool.bandit]` config when it has one."""
    project = context.project
    command = [*context.tool("bandit").command, "-r", *project.source_dirs, "-f", "json", "-q"]
    if project.tool_config("bandit") is not None:
        # bandit reads pyproject.toml only when told to.
        return [*command, "-c", "pyproject.toml"]
    return [*command, "-x", _BANDIT_EXCLUDES]


def run_bandit(context: GateContext) -> CheckResult:
    """Security lint (honouring `# nosec`): findings from `bandit-severity` up fail the
    check; those below are warnings on their lines (bandit's `assert` is low severity)."""
    run = run_tool(bandit_command(context), context, "bandit")
    result = _findings_result(
        "bandit",
        run,
        context,
        lambda text: parsers.parse_bandit(text, context.project.repo_path, context.bandit_severity),
        run.stdout,
    )
    if result.status != "failed" or not result.annotations:
        return result
    failing = sum(annotation.level == "error" for annotation in result.annotations)
    below = len(result.annotations) - failing
    if failing:
        return result.model_copy(
            update={
                "findings": failing,
                "detail": f"{failing} finding{'s' if failing != 1 else ''} of "
                f"{context.bandit_severity} severity or more"
                + (f" ({below} below, as warnings)" if below else ""),
            }
        )
    return result.model_copy(
        update={
            "status": "passed",
            "blocking": False,
            "findings": 0,
            "detail": f"no findings of {context.bandit_severity} severity or more "
            f"({below} below, as warnings)",
        }
    )


# --- dependency audit -----------------------------------------------------------------------


def _audit_target(context: GateContext) -> AuditTarget | None:
    """The `requirements` input, else the project's own pins (`locks.find_dependency_file`);
    None: nothing to audit."""
    root = context.project.root
    dependency_file = context.requirements or locks.find_dependency_file(root)
    if dependency_file is None:
        return None
    return locks.audit_target(dependency_file, root, context.work_dir)


def _unavailable(context: GateContext, run: ToolRun | None, why: str) -> CheckResult:
    """No verdict: a warning, never a pass; it closes the gate only when the audit is required."""
    return _result(
        "audit",
        "unavailable",
        run,
        why,
        blocking=context.audit_required,
        annotations=[
            Annotation(
                level="error" if context.audit_required else "warning",
                title="dependency audit unavailable",
                message=why
                + (
                    "; audit-required is true, so the gate is closed"
                    if context.audit_required
                    else "; the dependencies were NOT checked for known vulnerabilities"
                ),
            )
        ],
    )


def _vulnerability_annotations(
    report: parsers.AuditReport, target: AuditTarget, project: Project
) -> list[Annotation]:
    text = ""
    find_line: Callable[[str, str], int | None] = parsers.requirement_line
    if target.annotated_file is not None and target.annotated_file.suffix in (".txt", ".lock"):
        text = target.annotated_file.read_text(encoding="utf-8", errors="replace")
        if locks.is_lock_file(target.annotated_file):
            find_line = locks.lock_line
    file = (
        project.repo_path(str(target.annotated_file)) if target.annotated_file is not None else None
    )
    return [
        Annotation(
            level="error",
            file=file,
            line=find_line(text, vuln.package) if text else None,
            title=f"vulnerable dependency: {vuln.package} {vuln.version}",
            message=(
                f"{vuln.package} {vuln.version}: {vuln.id}"
                + (f" ({', '.join(vuln.aliases)})" if vuln.aliases else "")
                + (
                    f"; fixed in {', '.join(vuln.fix_versions)}"
                    if vuln.fix_versions
                    else "; no fixed version yet"
                )
            ),
        )
        for vuln in report.vulnerabilities
    ]


def judge_audit(context: GateContext, target: AuditTarget, run: ToolRun) -> CheckResult:
    """Turn a finished pip-audit run into a verdict; unreachable service = `unavailable`."""
    if run.returncode is None:
        return _unavailable(
            context, run, f"pip-audit timed out after {context.timeout('audit'):.0f}s"
        )
    try:
        report = parsers.parse_pip_audit(run.stdout)
    except parsers.ToolOutputError:
        if parsers.is_service_unreachable(run.stderr):
            return _unavailable(context, run, "the vulnerability service could not be reached")
        return _tool_error("audit", run, context)
    if report.nothing_audited:
        reason = next(iter(report.skipped.values()), "no dependencies found")
        return _unavailable(
            context, run, f"no dependency of {target.description} could be audited ({reason})"
        )
    skipped = f", {len(report.skipped)} skipped" if report.skipped else ""
    if report.vulnerabilities:
        count = len(report.vulnerabilities)
        return _result(
            "audit",
            "failed",
            run,
            f"{count} known vulnerabilit{'ies' if count != 1 else 'y'} in {target.description}"
            + skipped,
            findings=count,
            annotations=_vulnerability_annotations(report, target, context.project),
        )
    return _result(
        "audit",
        "passed",
        run,
        f"{report.audited} dependencies of {target.description}, no known vulnerabilities{skipped}",
    )


def run_audit(context: GateContext) -> CheckResult:
    """pip-audit (its JSON report) on the project's pinned dependencies."""
    target = _audit_target(context)
    if target is None:
        return _unavailable(
            context,
            None,
            "nothing to audit: no requirements.txt, uv.lock, poetry.lock or pyproject.toml",
        )
    run = run_tool(
        [
            *context.tool("audit").command,
            *target.arguments,
            "-f",
            "json",
            "--progress-spinner",
            "off",
        ],
        context,
        "audit",
    )
    return judge_audit(context, target, run)


# --- tests and coverage ---------------------------------------------------------------------


def pytest_command(
    context: GateContext,
    test_files: Sequence[Path | str],
    junit: Path,
    coverage_json: Path | None,
) -> list[str]:
    """pytest with JUnit XML (xunit1: it names each test's file) and coverage data.

    `--cov-fail-under=0` turns off pytest-cov's own floor: the coverage verdict is the gate's
    separate `coverage` check, so a failing test and low coverage are told apart. With no
    `test_files` pytest collects what the project's config says, as it would by itself.
    """
    project = context.project
    sources = project.source_dirs
    if project.coverage_source_configured() or sources == ["."]:
        cov = ["--cov"]
    else:
        cov = [f"--cov={source}" for source in sources]
    report = f"json:{coverage_json}" if coverage_json is not None else ""
    return [
        *context.tool("tests").command,
        f"--junitxml={junit}",
        "-o",
        "junit_family=xunit1",
        # pytest's cache (last failures) in our temp dir, not the checkout: a .pytest_cache
        # the gate's own run wrote there would be one more directory for ruff to walk.
        "-o",
        f"cache_dir={junit.with_name(junit.stem + '-pytest-cache')}",
        *cov,
        f"--cov-report={report}",
        "--cov-fail-under=0",
        *(str(file) for file in test_files),
    ]


def durations_file(context: GateContext) -> Path | None:
    """Where the test files' durations of the project's last runs are kept (per root)."""
    if context.cache_dir is None:
        return None
    key = hashlib.sha256(str(context.project.root.resolve()).encode()).hexdigest()[:16]
    return context.cache_dir / "test-durations" / f"{key}.json"


def load_test_durations(file: Path | None) -> dict[str, float]:
    """Seconds per test file kept by `keep_test_durations`; {} when none (or unreadable)."""
    if file is None:
        return {}
    try:
        kept = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(kept, dict):
        return {}
    return {
        str(name): float(seconds)
        for name, seconds in kept.items()
        if isinstance(seconds, int | float) and seconds >= 0
    }


def keep_test_durations(file: Path | None, seconds: Mapping[str, float]) -> None:
    """Keep this run's seconds per test file for the next split: the mean of this run's
    figure and the one kept before, so that one run slowed down by other work on the
    machine does not turn the next split upside down.
    A cache: failing to read or write it is never the gate's problem."""
    if file is None or not seconds:
        return
    before = load_test_durations(file)
    kept = before | {
        name: (took + before[name]) / 2 if name in before else took
        for name, took in seconds.items()
    }
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        # Written aside then renamed: a gate running at the same time reads old or new.
        partial = file.with_name(f"{file.name}.{os.getpid()}-{threading.get_ident()}.tmp")
        partial.write_text(json.dumps(kept, indent=1, sort_keys=True), encoding="utf-8")
        partial.replace(file)
    except OSError:
        return


def junit_file_seconds(junit_files: Sequence[Path]) -> dict[str, float]:
    """Seconds per test file in this run's JUnit reports (those that could be read)."""
    seconds: dict[str, float] = {}
    for junit in junit_files:
        try:
            seconds.update(parsers.parse_junit_file_seconds(junit.read_text(encoding="utf-8")))
        except (OSError, parsers.ToolOutputError):
            continue
    return seconds


def estimated_file_costs(
    files: Sequence[Path], root: Path, durations: Mapping[str, float]
) -> dict[Path, float]:
    """What each test file is expected to cost: its seconds in the last run; a file that did
    not run then, by its size at the known files' seconds per byte. With no durations at
    all, sizes alone (bytes stand in for time)."""
    sizes = {file: (root / file).stat().st_size for file in files}
    known = {file: durations[file.as_posix()] for file in files if file.as_posix() in durations}
    known_bytes = sum(sizes[file] for file in known)
    if not known or known_bytes == 0:
        return {file: float(size) for file, size in sizes.items()}
    per_byte = sum(known.values()) / known_bytes
    return {file: known.get(file, sizes[file] * per_byte) for file in files}


def split_test_files(
    files: Sequence[Path], shards: int, weights: Mapping[Path, float]
) -> list[list[Path]]:
    """Deal test files into `shards` groups of about equal weight (heaviest first, each to
    the lightest group), so the pytest processes end together."""
    groups: list[list[Path]] = [[] for _ in range(min(shards, len(files)))]
    loads = [0.0] * len(groups)
    for file in sorted(files, key=lambda file: (-weights[file], file)):
        lightest = min(range(len(groups)), key=lambda index: (loads[index], len(groups[index])))
        groups[lightest].append(file)
        loads[lightest] += weights[file]
    # Never an empty group: its pytest run, without file arguments, would run everything.
    return [sorted(group) for group in groups if group]


# pytest's exit codes: 1 tests failed, 2 interrupted (e.g. collection errors), 5 no tests.
_PYTEST_FAILED, _PYTEST_INTERRUPTED, _PYTEST_NO_TESTS = 1, 2, 5


def _combined_exit_code(codes: Sequence[int | None]) -> int | None:
    """One pytest exit code for all shards: a timeout, a crash, failures, in that order.
    A shard that found no tests is fine as long as another one ran some."""
    finished = [code for code in codes if code is not None]
    if len(finished) < len(codes):
        return None
    known = (0, _PYTEST_FAILED, _PYTEST_INTERRUPTED, _PYTEST_NO_TESTS)
    odd = [code for code in finished if code not in known]
    if odd:
        return odd[0]
    if all(code == _PYTEST_NO_TESTS for code in finished):
        return _PYTEST_NO_TESTS
    return max(code for code in finished if code != _PYTEST_NO_TESTS)


# Merge the shards' coverage data and write coverage.json in one interpreter start (the
# `coverage combine` and `coverage json` commands would be two).
_COMBINE_COVERAGE = """
import sys, coverage
data_file, json_file, *shard_files = sys.argv[1:]
merged = coverage.Coverage(data_file=data_file)
merged.combine(shard_files)
merged.save()
merged.json_report(outfile=json_file)
"""


@dataclass(frozen=True)
class SuiteRun:
    """The test suite's run: one `ToolRun` standing for all its pytest processes."""

    run: ToolRun
    failure_reports: list[Path]
    """The JUnit files whose failures are the verdict (the re-run's, after one)."""
    duration_reports: list[Path]
    """The JUnit files of the shards (or the one run): the test files' seconds."""
    coverage_json: Path
    only_when_sharded: list[str] = field(default_factory=list)
    """Tests that failed in the shards and passed re-run in one process."""
    shards: int = 1


def _run_pytest_shards(context: GateContext) -> SuiteRun:
    """Run the suite as `test_shards` pytest processes (or one plain run); re-run in one
    process what failed in the shards (`shard_rerun`).

    Why shards: pytest is the longest check by far, so without splitting it the gate can
    never be much faster than pytest alone. Each shard is one process over whole files
    (like pytest-xdist's --dist loadfile), with its own JUnit file and coverage data file;
    `FASTAPI_CI_TEST_SHARD` tells a suite which shard it is, as PYTEST_XDIST_WORKER does.
    """
    work = context.work_dir
    coverage_json = work / "coverage.json"
    files = context.project.test_files() if context.test_shards > 1 else []
    costs = estimated_file_costs(
        files, context.project.root, load_test_durations(durations_file(context))
    )
    groups = split_test_files(files, context.test_shards, costs)
    if len(groups) < 2:
        junit = work / "junit.xml"
        run = run_tool(
            pytest_command(context, [], junit, coverage_json),
            context,
            "tests",
            # Coverage data goes to our temp dir, not into the user's checkout.
            {"COVERAGE_FILE": str(work / ".coverage")},
        )
        return SuiteRun(run, [junit], [junit], coverage_json)

    releasing = threading.Lock()
    to_release = 0

    def run_shard(index: int) -> ToolRun:
        nonlocal to_release
        try:
            return run_tool(
                pytest_command(context, groups[index], work / f"junit-{index}.xml", None),
                context,
                "tests",
                {
                    "COVERAGE_FILE": str(work / f".coverage.{index}"),
                    "FASTAPI_CI_TEST_SHARD": str(index),
                },
                slot_held=True,
            )
        finally:
            # Each shard frees its CPU as it ends, for the checks still waiting; all but the
            # last slot, which goes straight to the re-run, if any, and to merging the
            # coverage. That merge is the gate's last step: a quick check taking its slot
            # first would delay the gate.
            with releasing:
                release = to_release > 0
                to_release -= int(release)
            if release:
                context.process_slots.release()

    started = time.monotonic()
    shard_reports = [work / f"junit-{index}.xml" for index in range(len(groups))]
    coverage_data = [work / f".coverage.{index}" for index in range(len(groups))]
    # The shards start together (a shard that waited for a slot would end last); with more
    # shards than CPUs (the `test-shards` input) the extra ones run on top.
    held = context.process_slots.acquire(priority_of("tests"), count=len(groups))
    to_release = held - 1
    try:
        with ThreadPoolExecutor(max_workers=len(groups)) as pool:
            runs = list(pool.map(run_shard, range(len(groups))))
        returncode = _combined_exit_code([run.returncode for run in runs])
        rerun, failed_in_shards = None, []
        if returncode == _PYTEST_FAILED:
            failed_in_shards = shard_rerun.failed_tests(shard_reports)
        if failed_in_shards:
            rerun = run_tool(
                pytest_command(context, failed_in_shards, work / "junit-rerun.xml", None),
                context,
                "tests",
                {"COVERAGE_FILE": str(work / ".coverage.rerun")},
                slot_held=True,
            )
            # A re-run that could not run the tests (a usage error: node ids pytest does not
            # take from this directory) says nothing: the shards' verdict stands.
            if rerun.returncode in (0, _PYTEST_FAILED):
                coverage_data.append(work / ".coverage.rerun")
            else:
                rerun = None
        combine = run_tool(
            [
                context.project.python,
                "-c",
                _COMBINE_COVERAGE,
                str(work / ".coverage"),
                str(coverage_json),
                *(str(data) for data in coverage_data),
            ],
            context,
            "tests",
            slot_held=True,
        )
    finally:
        context.process_slots.release()
    outputs = [
        f"── shard {index + 1}/{len(groups)}: {len(groups[index])} test files\n{run.output}"
        for index, run in enumerate(runs)
    ]
    failure_reports = shard_reports
    only_when_sharded: list[str] = []
    if rerun is not None:
        outputs.append(
            f"── re-run in one process: the {len(failed_in_shards)} tests that failed in the "
            f"shards\n{rerun.output}"
        )
        returncode, failure_reports = rerun.returncode, [work / "junit-rerun.xml"]
        still_failing = set(shard_rerun.failed_tests(failure_reports))
        only_when_sharded = [test for test in failed_in_shards if test not in still_failing]
    combined = ToolRun(
        command=[*runs[0].command[: -len(groups[0])], f"<{len(groups)} shards of test files>"],
        returncode=returncode,
        stdout="\n".join(outputs),
        stderr="" if combine.returncode == 0 else combine.output,
        duration_s=time.monotonic() - started,
    )
    return SuiteRun(
        combined, failure_reports, shard_reports, coverage_json, only_when_sharded, len(groups)
    )


def run_tests(context: GateContext) -> CheckResult:
    """pytest with coverage; failing tests become annotations from the JUnit reports."""
    suite = _run_pytest_shards(context)
    run = suite.run
    keep_test_durations(durations_file(context), junit_file_seconds(suite.duration_reports))
    coverage = None
    if suite.coverage_json.is_file():
        try:
            coverage = parsers.parse_coverage_json(suite.coverage_json.read_text(encoding="utf-8"))
        except parsers.ToolOutputError:
            coverage = None
    if run.returncode == _PYTEST_NO_TESTS:
        return _result("tests", "failed", run, "pytest collected no tests", findings=1)
    project = context.project

    def parse_failures(_: str) -> list[Annotation]:
        return [
            annotation
            for junit in suite.failure_reports
            if junit.is_file()
            for annotation in parsers.parse_junit_failures(
                junit.read_text(encoding="utf-8"), project.repo_path, project.is_project_file
            )
        ]

    result = _findings_result(
        "tests",
        run,
        context,
        parse_failures,
        "",
        finding_exit_codes=(_PYTEST_FAILED, _PYTEST_INTERRUPTED),
    )
    if result.status == "passed":
        result.detail = "all tests passed"
    if suite.only_when_sharded:
        detail, warning = shard_rerun.not_shard_safe(suite.only_when_sharded, suite.shards)
        result.detail = detail if result.status == "passed" else f"{result.detail}; {detail}"
        result.annotations = [*result.annotations, warning]
    return result.model_copy(update={"coverage": coverage})


def _line_ranges(lines: Sequence[int]) -> str:
    """[3, 4, 5, 9] -> "3-5, 9"."""
    ranges: list[str] = []
    start = previous = None
    for line in [*sorted(lines), None]:
        if start is not None and line is not None and previous is not None and line == previous + 1:
            previous = line
            continue
        if start is not None:
            ranges.append(str(start) if start == previous else f"{start}-{previous}")
        start = previous = line
    return ", ".join(ranges)


def judge_coverage(tests: CheckResult, floor: float | None, project: Project) -> CheckResult:
    """The `coverage` check, from the tests run's coverage.json and the floor.

    Under the floor, the least-covered files are annotated on their first line no test ran.
    """
    report = tests.coverage
    if report is None:
        return _result(
            "coverage", "error", None, "pytest wrote no coverage report (see the tests output)"
        )
    figure = f"{report.percent:.1f}%"
    if not floor:
        return _result("coverage", "passed", None, f"{figure} (no floor set)")
    if report.percent >= floor:
        return _result("coverage", "passed", None, f"{figure} ≥ floor {floor:g}%")
    uncovered = sorted(
        (file for file in report.files if file.missing_lines), key=lambda file: file.percent
    )
    annotations = [
        Annotation(
            level="error",
            file=project.repo_path(file.file),
            line=min(file.missing_lines),
            title=f"coverage {file.percent:.1f}% in this file",
            message=(
                f"lines {_line_ranges(file.missing_lines)} never ran in the tests "
                f"(total {figure} < floor {floor:g}%)"
            ),
        )
        for file in uncovered
    ]
    return _result(
        "coverage",
        "failed",
        None,
        f"{figure} < floor {floor:g}%",
        findings=len(annotations) or 1,
        annotations=annotations,
    )


# --- the registry and the runner ------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One check of the gate: its input name, its function, and what the project needs."""

    name: str
    run: Callable[[GateContext], CheckResult]
    project_modules: tuple[str, ...] = ()
    """Modules the project's interpreter must have for this check."""


# Longest first: with fewer workers than checks, the slow ones start at once and the quick
# ones fill in around them.
CHECKS: tuple[Check, ...] = (
    Check("tests", run_tests, ("pytest", "pytest_cov")),
    # The project's mypy when it has one, else ours (tools.mypy_for): nothing to require.
    Check("mypy", run_mypy),
    Check("audit", run_audit),
    Check("bandit", run_bandit),
    Check("ruff", run_ruff),
    Check("format", run_format),
)

CHECK_PRIORITY = {check.name: index for index, check in enumerate(CHECKS)}

# pip-audit spends its time waiting on the vulnerability service and the index (measured:
# 0.8 s of CPU in 2.0 s): holding a CPU slot for it would leave a core idle, so it runs
# beside the CPU-bound checks instead of taking a turn among them (at low CPU priority
# while the tests run: see `BesideTests`).
NETWORK_BOUND_CHECKS = frozenset({"audit"})


def priority_of(check: str) -> int:
    """A check's priority for process slots (lower starts first)."""
    return CHECK_PRIORITY.get(check, len(CHECK_PRIORITY))


# The order of the report's rows (the order a developer fixes things in).
REPORT_ORDER = ("ruff", "format", "mypy", "bandit", "audit", "tests", "coverage")


def _run_guarded(check: Check, context: GateContext) -> CheckResult:
    """A bug or surprise in one check is that check's error, not the end of the gate."""
    try:
        result = check.run(context)
    except Exception as error:  # reported as this check's error, see above
        result = _result(check.name, "error", None, f"{type(error).__name__}: {error}")
    finally:
        context.process_slots.forget(priority_of(check.name))
        if check.name == "tests" and context.beside_tests is not None:
            context.process_slots.close_spare()
            context.beside_tests.tests_done()
    return result.model_copy(update={"tool": context.tool(check.name).label})


def run_checks(checks: Sequence[Check], context: GateContext) -> list[CheckResult]:
    """Run the checks concurrently; `context.process_slots` bounds how many tool processes
    run at once (one per CPU in the gate). While the tests run, the network-bound checks
    and one more process (a spare slot) run beside them at low CPU priority (see
    `BesideTests`), where the gate can give that priority back.

    Threads are enough: each one only waits on its tool's process. All results are
    collected; a failure never stops the others.
    """
    if any(check.name == "tests" for check in checks) and can_restore_priority():
        context = replace(context, beside_tests=BesideTests())
        context.process_slots.open_spare(1)
    context.process_slots.expect(
        priority_of(check.name) for check in checks if check.name not in NETWORK_BOUND_CHECKS
    )
    with ThreadPoolExecutor(max_workers=max(1, len(checks))) as pool:
        futures = [pool.submit(_run_guarded, check, context) for check in checks]
        return [future.result() for future in futures]
