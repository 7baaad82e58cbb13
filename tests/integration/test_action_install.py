"""The composite actions' install step: the locked package into a private venv, once per job."""

from __future__ import annotations

import ast
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.components import REPO_ROOT

INSTALL = REPO_ROOT / "actions" / "_shared" / "install-fastapi-ci.sh"
PACKAGE = REPO_ROOT / "scripts" / "fastapi_ci"
# These run in the checked PROJECT's interpreter, which brings alembic and SQLAlchemy.
RUN_IN_THE_PROJECT = {
    "_import_app.py",
    "_alembic_probe.py",
    "_lock_launcher.py",
    "migration_lock.py",
}


def install(
    runner_temp: Path,
    github_path: Path,
    mode: str = "install",
    *extras: str,
    **extra_env: str,
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "RUNNER_TEMP": str(runner_temp),
        "GITHUB_PATH": str(github_path),
        **extra_env,
    }
    env.pop("GITHUB_OUTPUT", None)
    return subprocess.run(
        ["bash", str(INSTALL), mode, *extras],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    runner_temp = tmp_path_factory.mktemp("runner-temp")
    github_path = runner_temp / "github_path"
    github_path.touch()
    first = install(runner_temp, github_path)
    assert first.returncode == 0, first.stderr
    return runner_temp, github_path


def test_install_puts_a_working_fastapi_ci_on_the_job_path_once(
    installed: tuple[Path, Path],
) -> None:
    runner_temp, github_path = installed
    bin_dir = github_path.read_text().splitlines()[0]
    assert bin_dir == str(runner_temp / "fastapi-ci-venv" / "bin")
    help_text = subprocess.run(
        [f"{bin_dir}/fastapi-ci", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "schema-guard" in help_text

    # A second action in the same job finds it installed, says so in its plan, and does
    # not reinstall.
    assert install(runner_temp, github_path, "plan").stdout.strip() == "installed=true"
    second = install(runner_temp, github_path)
    assert second.returncode == 0, second.stderr
    assert "already installed" in second.stdout


def test_plan_keys_the_cache_on_the_lock_and_python(tmp_path: Path) -> None:
    plan = install(tmp_path, tmp_path / "github_path", "plan")
    assert plan.returncode == 0, plan.stderr
    outputs = dict(line.split("=", 1) for line in plan.stdout.splitlines())
    assert outputs["installed"] == "false"
    assert outputs["cache-dir"] == str(tmp_path / "fastapi-ci-cache")
    # The lock and the hash-pinned uv: a cached uv is always the one the file names.
    lock_hash = hashlib.sha256(
        (REPO_ROOT / "uv.lock").read_bytes()
        + (REPO_ROOT / "actions/_shared/uv-requirements.txt").read_bytes()
    ).hexdigest()[:16]
    python_tag = "py{}.{}".format(*sys.version_info[:2])
    # schema-guard's plan: the core, no extra.
    assert outputs["cache-key"].endswith(f"-{python_tag}-uv0.13.9-{lock_hash}-core")


def test_the_cache_key_names_the_extra_set(tmp_path: Path) -> None:
    def key(*extras: str) -> str:
        plan = install(tmp_path, tmp_path / "github_path", "plan", *extras)
        assert plan.returncode == 0, plan.stderr
        return dict(line.split("=", 1) for line in plan.stdout.splitlines())["cache-key"]

    assert key("quality").endswith("-quality")
    assert key("deploy", "migrations") == key("migrations", "deploy", "deploy")
    assert key("deploy", "migrations").endswith("-deploy+migrations")


# What a light install must not bring: the deploy and quality extras' packages.
HEAVY = ("boto3", "botocore", "kubernetes", "docker", "ruff", "bandit", "pip_audit")


def test_schema_guard_runs_from_the_core_install_without_the_heavy_extras(
    installed: tuple[Path, Path], tmp_path: Path
) -> None:
    runner_temp, _ = installed
    venv = runner_temp / "fastapi-ci-venv" / "bin"
    probe = "import importlib.util as u, sys; print([m for m in sys.argv[1:] if u.find_spec(m)])"
    present = subprocess.run(
        [str(venv / "python"), "-c", probe, *HEAVY], capture_output=True, text=True, check=True
    )
    assert present.stdout.strip() == "[]"
    project = REPO_ROOT / "tests" / "fixtures" / "projects" / "init-uv"
    common = ["--app", "app.main:app", "--app-dir", str(project), "--python", sys.executable]
    golden = tmp_path / "openapi.json"
    subprocess.run([venv / "fastapi-ci", "schema-export", *common, "--output", golden], check=True)

    guard = subprocess.run(
        [venv / "fastapi-ci", "schema-guard", *common, "--golden", golden],
        capture_output=True,
        text=True,
        check=False,
    )
    assert guard.returncode == 0, guard.stdout + guard.stderr
    assert "No changes" in guard.stdout
    # A command whose extra is missing says which one, instead of failing halfway.
    gate = subprocess.run(
        [venv / "fastapi-ci", "quality-gate", "--path", str(project)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert gate.returncode == 2
    assert "fastapi-ci[quality]" in gate.stderr


def imported_modules(path: Path) -> set[str]:
    """Top-level names of every module a file imports, lazy imports inside functions too."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_every_module_the_package_imports_is_in_the_installed_set(tmp_path: Path) -> None:
    # The tests run in the dev environment, where a dev-only dependency (httpx, once) hides
    # a missing runtime one; the action's own venv has only what the lock says to install.
    # Every extra, in two steps as two actions of one job would: the union stays.
    runner_temp = tmp_path
    for extras in (["quality"], ["migrations", "deploy"]):
        step = install(runner_temp, tmp_path / "github_path", "install", *extras)
        assert step.returncode == 0, step.stderr
    wanted = sorted(
        set().union(
            *(
                imported_modules(source)
                for source in PACKAGE.rglob("*.py")
                if source.name not in RUN_IN_THE_PROJECT
            )
        )
        - {"fastapi_ci", "__future__"}
    )
    python = runner_temp / "fastapi-ci-venv" / "bin" / "python"
    probe = (
        "import importlib.util, sys\n"
        "print(' '.join(m for m in sys.argv[1:] if importlib.util.find_spec(m) is None))"
    )
    missing = subprocess.run(
        [str(python), "-c", probe, *wanted], capture_output=True, text=True, check=True
    ).stdout.split()
    assert missing == []


def test_a_job_without_the_cache_never_runs_what_a_cache_holds(tmp_path: Path) -> None:
    # What a job that ran untrusted code could have left in a cache it saved: a uv that
    # does something else. The deploy job (FASTAPI_CI_CACHE=false) must not run it.
    marker = tmp_path / "poisoned-uv-ran"
    fake_uv = tmp_path / "fastapi-ci-cache" / "uv" / "bin" / "uv"
    fake_uv.parent.mkdir(parents=True)
    fake_uv.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    fake_uv.chmod(0o755)
    # No uv on PATH (as on a fresh runner), so the script must bring its own.
    python_dir = Path(sys.executable).parent
    path = f"{python_dir}:/usr/bin:/bin"
    plan = install(tmp_path, tmp_path / "github_path", "plan", FASTAPI_CI_CACHE="false")
    assert "cache=false" in plan.stdout.splitlines()  # the restore step is skipped
    done = install(tmp_path, tmp_path / "github_path", FASTAPI_CI_CACHE="false", PATH=path)
    assert done.returncode == 0, done.stderr
    assert not marker.exists(), "the cached uv ran"
    assert not list(tmp_path.glob("fastapi-ci-private-cache.*"))  # removed afterwards
    assert (tmp_path / "fastapi-ci-venv" / "bin" / "fastapi-ci").exists()
