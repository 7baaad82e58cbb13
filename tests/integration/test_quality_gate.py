"""The quality gate run for real on copies of example-service, one planted problem each.

Each test copies the service (without its venv) to `<tmp>/checkout/service`, plants one
problem, and runs `fastapi-ci quality-gate --path service` in-process as a GitHub step
would (GITHUB_ACTIONS=true, output and summary files), with the example's own venv as
the project's interpreter. The audit needs the network, so it is off except in its own test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import venv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest

from fastapi_ci import cli
from tests.support.components import EXAMPLE_SERVICE
from tests.support.github import read_outputs
from tests.support.projects import BuiltProject, built_project, project_copy

ALL_CHECKS = ["ruff", "format", "mypy", "bandit", "audit", "tests", "coverage"]
COPY_IGNORE = shutil.ignore_patterns(
    ".venv", ".mypy_cache", ".ruff_cache", ".pytest_cache", "__pycache__", ".coverage*"
)
_WORKFLOW_COMMAND = re.compile(
    r"^::(?P<level>error|warning|notice)(?: (?P<props>[^:]*))?::(?P<msg>.*)$"
)


def unescape(text: str) -> str:
    """Undo the runner's workflow-command escaping (%25, %0D, %0A, %3A, %2C)."""
    for escaped, char in (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%")):
        text = text.replace(escaped, char)
    return text


@dataclass
class GateRun:
    """What one gate run left behind: exit code, log, outputs, summary and JSON report."""

    exit_code: int
    log: str
    outputs: dict[str, str]
    step_summary: str

    @property
    def report(self) -> dict[str, Any]:
        report: dict[str, Any] = json.loads(Path(self.outputs["report-path"]).read_text())
        return report

    @property
    def statuses(self) -> dict[str, str]:
        return {check["name"]: check["status"] for check in self.report["checks"]}

    def annotations(self, level: str = "error") -> list[tuple[dict[str, str], str]]:
        """The workflow-command annotations of the log: (properties, message)."""
        found = []
        for line in self.log.splitlines():
            match = _WORKFLOW_COMMAND.match(line)
            if match and match["level"] == level:
                props = dict(
                    prop.split("=", 1) for prop in (match["props"] or "").split(",") if prop
                )
                found.append(
                    ({key: unescape(value) for key, value in props.items()}, unescape(match["msg"]))
                )
        return found

    def annotation_at(self, file: str, line: int, title: str) -> str:
        """The message of the error annotation titled `title...` on `file:line`."""
        for props, message in self.annotations():
            if (props.get("file"), props.get("line")) == (file, str(line)) and props.get(
                "title", ""
            ).startswith(title):
                return message
        raise AssertionError(
            f"no ::error title={title}... on {file}:{line}; annotations: {self.annotations()}"
        )


@pytest.fixture(scope="session")
def shared_mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One mypy cache for all copies: the third-party stubs are checked once, not per test."""
    return tmp_path_factory.mktemp("mypy-cache")


@pytest.fixture(scope="session")
def shared_cache_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One fastapi-ci cache (bytecode, test durations) for all runs, not the user's own."""
    return tmp_path_factory.mktemp("cache-home")


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository checkout holding a copy of example-service at `service/`; the cwd."""
    if not (EXAMPLE_SERVICE / "app" / "main.py").is_file():
        pytest.fail(f"{EXAMPLE_SERVICE} has no app/main.py")
    root = tmp_path / "checkout"
    shutil.copytree(EXAMPLE_SERVICE, root / "service", ignore=COPY_IGNORE)
    monkeypatch.chdir(root)
    return root / "service"


class RunGate(Protocol):
    """Runs the gate on the checkout (`path` relative to it) with the given flags."""

    def __call__(self, *flags: str, python: Path | None = ..., path: str = ...) -> GateRun: ...


@pytest.fixture
def run_gate(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    example_python: Path,
    shared_mypy_cache: Path,
    shared_cache_home: Path,
) -> RunGate:
    """Run `fastapi-ci quality-gate` like a GitHub step; returns what it left behind."""

    def run(*flags: str, python: Path | None = example_python, path: str = "service") -> GateRun:
        """`python=None`: no `--python`, the gate finds the project's interpreter itself."""
        for variable in list(os.environ):
            if variable.startswith(("FASTAPI_CI_QUALITY_GATE_", "INPUT_", "GITHUB_")):
                monkeypatch.delenv(variable)
        # The example's suite uses SQLite unless told about a PostgreSQL server.
        monkeypatch.delenv("DATABASE_URL", raising=False)
        monkeypatch.delenv("TEST_DATABASE_URL", raising=False)
        output, step_summary = tmp_path / "github-output", tmp_path / "step-summary"
        output.write_text("")
        step_summary.write_text("")
        monkeypatch.setenv("GITHUB_ACTIONS", "true")
        monkeypatch.setenv("GITHUB_OUTPUT", str(output))
        monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
        monkeypatch.setenv("RUNNER_TEMP", str(tmp_path / "runner-temp"))
        monkeypatch.setenv("MYPY_CACHE_DIR", str(shared_mypy_cache))
        monkeypatch.setenv("XDG_CACHE_HOME", str(shared_cache_home))
        capsys.readouterr()
        interpreter = ["--python", str(python)] if python is not None else []
        exit_code = cli.main(["quality-gate", "--path", path, *interpreter, *flags])
        captured = capsys.readouterr()
        return GateRun(
            exit_code=exit_code,
            log=captured.out + captured.err,
            outputs=read_outputs(str(output)),
            step_summary=step_summary.read_text(),
        )

    return run


def plant(service: Path, relative: str, text: str, append: bool = False) -> int:
    """Write (or append) code into the copy; return the line number of its last line."""
    file = service / relative
    before = file.read_text() if append and file.exists() else ""
    file.write_text(before + text)
    return len((before + text).rstrip("\n").splitlines())


def assert_failed_only(run: GateRun, *checks: str) -> None:
    """Exit 1 with exactly `checks` failing, and every other check still ran and reported."""
    assert run.exit_code == 1, run.log
    assert run.outputs["passed"] == "false"
    assert run.outputs["failed-checks"].split(",") == list(checks), run.log
    statuses = run.statuses
    assert list(statuses) == ALL_CHECKS
    for name, status in statuses.items():
        expected = "failed" if name in checks else "skipped" if name == "audit" else "passed"
        assert status == expected, (name, run.log)
    for name in ALL_CHECKS:
        assert f"| {name} |" in run.step_summary


NO_AUDIT = "--no-audit"


def test_clean_example_service_passes_every_check(run_gate: RunGate, checkout: Path) -> None:
    run = run_gate(NO_AUDIT)
    assert run.exit_code == 0, run.log
    assert run.outputs["passed"] == "true"
    assert run.outputs["failed-checks"] == ""
    assert float(run.outputs["coverage"]) >= 90  # the project's own fail_under
    assert run.statuses == {name: "skipped" if name == "audit" else "passed" for name in ALL_CHECKS}
    assert run.step_summary.startswith("### ✅ quality-gate: all 6 checks passed")
    assert run.annotations() == []
    # The gate leaves no coverage data or report behind in the checkout.
    assert not list(checkout.glob(".coverage*"))
    assert not (checkout / "coverage.json").exists()


def test_lint_error_fails_ruff_on_its_line(run_gate: RunGate, checkout: Path) -> None:
    line = plant(
        checkout,
        "app/crud.py",
        "\n\ndef lint_probe() -> int:\n    unused = 1\n    return 2\n",
        append=True,
    )
    run = run_gate(NO_AUDIT)
    assert_failed_only(run, "ruff")
    assert "`unused` is assigned to but never used" in run.annotation_at(
        "service/app/crud.py", line - 1, "ruff F841"
    )


def test_type_error_fails_mypy_on_its_line(run_gate: RunGate, checkout: Path) -> None:
    line = plant(
        checkout, "app/crud.py", '\n\ndef typed_probe() -> int:\n    return "x"\n', append=True
    )
    run = run_gate(NO_AUDIT)
    assert_failed_only(run, "mypy")
    assert "Incompatible return value type" in run.annotation_at(
        "service/app/crud.py", line, "mypy [return-value]"
    )


def test_shell_true_fails_bandit_on_its_line(run_gate: RunGate, checkout: Path) -> None:
    line = plant(
        checkout,
        "app/shell.py",
        '"""Runs commands."""\n\nimport subprocess\n\n\n'
        "def run(command: str) -> int:\n"
        '    """Run it in a shell."""\n'
        "    return subprocess.call(command, shell=True)\n",
    )
    # Covered by a test, so the planted lines cannot move coverage across the example's floor.
    plant(
        checkout,
        "tests/test_shell_probe.py",
        '"""Covers app/shell.py."""\n\nfrom app.shell import run\n\n\n'
        "def test_run_answers_the_exit_code() -> None:\n"
        '    assert run("true") == 0\n',
    )
    run = run_gate(NO_AUDIT)
    # The example's ruff config selects flake8-bandit (S) too, so ruff rightly fails as well.
    assert_failed_only(run, "ruff", "bandit")
    assert "shell=True" in run.annotation_at(
        "service/app/shell.py", line, "bandit B602 (high severity)"
    )


def test_failing_test_fails_tests_on_the_failing_assert(run_gate: RunGate, checkout: Path) -> None:
    line = plant(
        checkout,
        "tests/test_gate_probe.py",
        '"""A test that fails on purpose."""\n\n\n'
        "def test_arithmetic_still_works() -> None:\n"
        "    assert 1 + 1 == 3\n",
    )
    run = run_gate(NO_AUDIT)
    assert_failed_only(run, "tests")
    message = run.annotation_at(
        "service/tests/test_gate_probe.py",
        line,
        "test failed: tests.test_gate_probe::test_arithmetic_still_works",
    )
    assert "assert (1 + 1) == 3" in message
    assert float(run.outputs["coverage"]) > 0  # coverage is still measured and reported


def test_coverage_under_the_floor_fails_coverage_on_the_untested_file(
    run_gate: RunGate, checkout: Path
) -> None:
    body = "".join(f"    x = x * {n} + {n}\n" for n in range(1, 40))
    plant(checkout, "app/untested.py", f"def never_called(x: int) -> int:\n{body}    return x\n")
    run = run_gate(NO_AUDIT, "--coverage-min", "99")
    assert_failed_only(run, "coverage")
    message = run.annotation_at("service/app/untested.py", 1, "coverage 0.0% in this file")
    assert "lines 1-41 never ran in the tests" in message
    assert "< floor 99%" in message


def test_audit_reports_a_verdict_or_unavailable_never_a_silent_pass(
    run_gate: RunGate, checkout: Path
) -> None:
    only_audit = ("--no-ruff", "--no-format", "--no-mypy", "--no-bandit", "--no-tests")
    run = run_gate(*only_audit, "--no-audit-required")
    [audit] = [check for check in run.report["checks"] if check["name"] == "audit"]
    if audit["status"] == "unavailable":
        assert run.exit_code == 0
        [(_props, message)] = run.annotations("warning")
        assert "NOT checked for known vulnerabilities" in message
        required = run_gate(*only_audit, "--audit-required")
        assert required.exit_code == 1
        assert required.outputs["failed-checks"] == "audit"
    else:  # the vulnerability service answered: a real verdict on real dependencies
        assert audit["status"] in ("passed", "failed"), audit
        assert re.search(r"\d+ (dependencies|known vulnerabilit)", audit["detail"])


def test_a_project_without_mypy_is_type_checked_by_ours_in_its_environment(
    run_gate: RunGate, checkout: Path, tmp_path: Path
) -> None:
    bare = tmp_path / "bare-venv"
    venv.create(bare, with_pip=False)
    python = bare / "bin" / "python"
    run = run_gate(NO_AUDIT, "--no-tests", python=python)
    [mypy] = [check for check in run.report["checks"] if check["name"] == "mypy"]
    assert mypy["tool"].startswith("mypy ")
    assert mypy["tool"].endswith("(fastapi-ci)")
    # Ours, but resolving imports in the project's (bare) environment: the service's
    # dependencies are missing there, and mypy says so.
    assert mypy["status"] == "failed"
    assert "import-not-found" in json.dumps(run.report)
    every_tool = run_gate(NO_AUDIT, python=python)
    assert every_tool.exit_code == 2
    assert "'pytest', 'pytest_cov'" in every_tool.log
    assert "tests: false" in every_tool.log


def test_a_path_that_is_not_a_python_project_exits_2_with_one_line(
    run_gate: RunGate, checkout: Path
) -> None:
    (checkout.parent / "docs").mkdir()
    (checkout.parent / "docs" / "index.md").write_text("# docs\n")
    run = run_gate(path="docs")
    assert run.exit_code == 2
    assert run.log.strip() == (
        "::error title=quality-gate::input 'path': docs is not a Python project (no "
        "pyproject.toml, setup.py, setup.cfg, requirements*.txt or .py file)"
    )


# --- the fixture projects: the shapes users' projects really have ---------------------------


@pytest.fixture(scope="session")
def built_projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, BuiltProject]:
    """Every fixture project the gate runs on, installed once per session."""
    into = tmp_path_factory.mktemp("projects")
    names = ("uv-workspace", "shared-db-tests", "poetry-project", "plain-requirements")
    return {name: built_project(name, into) for name in names}


@pytest.fixture
def fixture_project(
    built_projects: dict[str, BuiltProject], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[[str], BuiltProject]:
    """A fresh copy of a built fixture project under `<tmp>/checkout`, which is the cwd."""

    def copy(name: str) -> BuiltProject:
        checkout = tmp_path / "checkout"
        checkout.mkdir(exist_ok=True)
        monkeypatch.chdir(checkout)
        return project_copy(built_projects[name], checkout)

    return copy


def check_of(run: GateRun, name: str) -> dict[str, Any]:
    [check] = [check for check in run.report["checks"] if check["name"] == name]
    return check


def test_a_uv_workspace_member_passes_with_its_own_ruff_mypy_and_root_venv(
    run_gate: RunGate, fixture_project: Callable[[str], BuiltProject]
) -> None:
    project = fixture_project("uv-workspace")
    # Left by an earlier local pytest run: a cache directory the project's `exclude` (which
    # replaces ruff's defaults) does not name, holding a file ruff would reformat.
    stale_cache = project.app / ".pytest_cache"
    stale_cache.mkdir()
    (stale_cache / "README.md").write_text("# pytest cache\n\n```python\nx=1\n```\n")
    run = run_gate(NO_AUDIT, python=None, path="uv-workspace/backend")
    assert run.exit_code == 0, run.log
    assert f"python: {project.root / '.venv' / 'bin' / 'python'}" in run.log
    ruff, mypy = check_of(run, "ruff"), check_of(run, "mypy")
    assert ruff["tool"] == "ruff 0.15.0 (the project's environment)", ruff
    assert check_of(run, "format")["tool"] == ruff["tool"]
    assert mypy["tool"] == "mypy 2.4.1 (the project's environment)", mypy
    assert "ruff 0.15.0 (the project's environment)" in run.log  # the terminal says so too
    # bandit's low-severity `assert` is a warning on its line, not a failure.
    assert check_of(run, "bandit")["status"] == "passed"
    [(props, message)] = run.annotations("warning")
    assert (props["file"], props["title"]) == (
        "uv-workspace/backend/app/config.py",
        "bandit B101 (low severity)",
    )
    assert "assert" in message
    # The gate's own test run left no cache in the checkout.
    assert not (project.app / ".pytest_cache" / "v").exists()


def test_bandit_fails_on_low_severity_findings_when_asked(
    run_gate: RunGate, fixture_project: Callable[[str], BuiltProject]
) -> None:
    fixture_project("uv-workspace")
    only_bandit = ("--no-ruff", "--no-format", "--no-mypy", "--no-tests", NO_AUDIT)
    run = run_gate(
        *only_bandit, "--bandit-severity", "low", python=None, path="uv-workspace/backend"
    )
    assert run.exit_code == 1, run.log
    assert run.outputs["failed-checks"] == "bandit"
    assert run.annotation_at("uv-workspace/backend/app/config.py", 32, "bandit B101")


def test_the_audit_reads_the_workspace_roots_uv_lock(
    run_gate: RunGate, fixture_project: Callable[[str], BuiltProject]
) -> None:
    fixture_project("uv-workspace")
    only_audit = ("--no-ruff", "--no-format", "--no-mypy", "--no-bandit", "--no-tests")
    for flags in ((), ("--requirements", "../uv.lock")):
        run = run_gate(*only_audit, *flags, python=None, path="uv-workspace/backend")
        audit = check_of(run, "audit")
        # The lock's pins as they are (not a fresh resolution of pyproject.toml).
        assert "--no-deps" in audit["command"], audit
        assert audit["status"] in ("passed", "failed", "unavailable"), audit
        if audit["status"] != "unavailable":
            assert re.search(r"^\d+ .*\.\./uv\.lock", audit["detail"]), audit["detail"]


@pytest.mark.parametrize("name", ["poetry-project", "plain-requirements"])
def test_a_poetry_or_plain_requirements_project_passes_with_its_own_venv(
    name: str, run_gate: RunGate, fixture_project: Callable[[str], BuiltProject]
) -> None:
    project = fixture_project(name)
    run = run_gate(python=None, path=name)
    assert run.exit_code == 0, run.log
    assert f"python: {project.root / '.venv' / 'bin' / 'python'}" in run.log
    audit = check_of(run, "audit")
    assert audit["status"] in ("passed", "unavailable"), audit
    pins = "poetry.lock" if name == "poetry-project" else "requirements.txt"
    assert pins in audit["detail"] or pins in " ".join(audit["command"]), audit


def test_sharding_never_turns_a_suite_sharing_one_database_red(
    run_gate: RunGate, fixture_project: Callable[[str], BuiltProject]
) -> None:
    fixture_project("shared-db-tests")
    run = run_gate(NO_AUDIT, "--test-shards", "2", python=None, path="shared-db-tests")
    assert run.exit_code == 0, run.log
    tests = check_of(run, "tests")
    assert tests["status"] == "passed"
    assert "not shard-safe" in tests["detail"]
    [(_props, message)] = run.annotations("warning")
    assert "test-shards: 1" in message
    assert float(run.outputs["coverage"]) > 90


def test_a_genuinely_failing_test_still_fails_after_the_single_process_rerun(
    run_gate: RunGate, fixture_project: Callable[[str], BuiltProject]
) -> None:
    project = fixture_project("shared-db-tests")
    line = plant(
        project.root,
        "tests/test_security.py",
        "\n\ndef test_a_broken_expectation() -> None:\n    assert 1 + 1 == 3\n",
        append=True,
    )
    run = run_gate(NO_AUDIT, "--test-shards", "2", python=None, path="shared-db-tests")
    assert run.exit_code == 1, run.log
    assert run.outputs["failed-checks"] == "tests"
    annotations = run.annotations()
    assert len(annotations) == 1, annotations
    assert run.annotation_at(
        "shared-db-tests/tests/test_security.py",
        line,
        "test failed: tests.test_security::test_a_broken_expectation",
    )
