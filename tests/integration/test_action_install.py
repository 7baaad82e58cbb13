"""The composite actions' install step: the locked package into a private venv, once per job."""

from __future__ import annotations

import ast
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.components import REPO_ROOT

INSTALL = REPO_ROOT / "actions" / "_shared" / "install-fastapi-ci.sh"
# Where the script puts what actions/cache saves (the venv, a fetched uv), under RUNNER_TEMP.
CACHE_DIR = "fastapi-ci-cache"
VENV = f"{CACHE_DIR}/venv"
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
    assert bin_dir == str(runner_temp / VENV / "bin")
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
    assert outputs["cache-dir"] == str(tmp_path / CACHE_DIR)
    # The lock and the hash-pinned uv: a cached uv is always the one the file names.
    lock_hash = hashlib.sha256(
        (REPO_ROOT / "uv.lock").read_bytes()
        + (REPO_ROOT / "actions/_shared/uv-requirements.txt").read_bytes()
    ).hexdigest()[:16]
    # The interpreter (full version, real path) and the venv's path: a venv is not relocatable.
    python_tag = "py{}.{}.{}".format(*sys.version_info[:3])
    built_for = f"{python_tag} {Path(sys.executable).resolve()} {tmp_path / VENV}\n"
    where = hashlib.sha256(built_for.encode()).hexdigest()[:8]
    # schema-guard's plan: the core, no extra.
    assert outputs["cache-key"].endswith(f"-{python_tag}-{where}-uv0.13.9-{lock_hash}-core")


def cache_key(runner_temp: Path, *extras: str, **extra_env: str) -> str:
    plan = install(runner_temp, runner_temp / "github_path", "plan", *extras, **extra_env)
    assert plan.returncode == 0, plan.stderr
    return dict(line.split("=", 1) for line in plan.stdout.splitlines())["cache-key"]


def test_the_cache_key_names_the_extra_set(tmp_path: Path) -> None:
    def key(*extras: str) -> str:
        return cache_key(tmp_path, *extras)

    assert key("quality").endswith("-quality")
    assert key("deploy", "migrations") == key("migrations", "deploy", "deploy")
    assert key("deploy", "migrations").endswith("-deploy+migrations")


# What a light install must not bring: the deploy and quality extras' packages.
HEAVY = ("boto3", "botocore", "kubernetes", "docker", "ruff", "bandit", "pip_audit")


def test_schema_guard_runs_from_the_core_install_without_the_heavy_extras(
    installed: tuple[Path, Path], tmp_path: Path
) -> None:
    runner_temp, _ = installed
    venv = runner_temp / VENV / "bin"
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
    """Top-level names of every module a file imports, lazy imports inside functions too.

    Not those under `if TYPE_CHECKING:`, which never run (`_typeshed` exists only for mypy).
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    type_checking_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING")
        for statement in node.body
        for inner in ast.walk(statement)
    }
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in type_checking_only:
            continue
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
    python = runner_temp / VENV / "bin" / "python"
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
    # does something else, a venv that does. The deploy job (FASTAPI_CI_CACHE=false) must
    # run neither.
    marker = tmp_path / "poisoned-uv-ran"
    fake_uv = tmp_path / CACHE_DIR / "uv" / "bin" / "uv"
    fake_uv.parent.mkdir(parents=True)
    fake_uv.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    fake_uv.chmod(0o755)
    # ... and a venv built for this very interpreter and path, whose Python runs a planted
    # sitecustomize.py on start.
    venv_marker = tmp_path / "poisoned-venv-ran"
    venv = tmp_path / VENV
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site_packages = next((venv / "lib").glob("python3.*/site-packages"))
    (site_packages / "sitecustomize.py").write_text(f"open({str(venv_marker)!r}, 'w').close()\n")
    python_tag = "py{}.{}.{}".format(*sys.version_info[:3])
    (venv / ".fastapi-ci-built-for").write_text(
        f"{python_tag} {Path(sys.executable).resolve()} {venv}\n"
    )
    # No uv on PATH (as on a fresh runner), so the script must bring its own.
    python_dir = Path(sys.executable).parent
    path = f"{python_dir}:/usr/bin:/bin"
    plan = install(tmp_path, tmp_path / "github_path", "plan", FASTAPI_CI_CACHE="false")
    assert "cache=false" in plan.stdout.splitlines()  # the restore step is skipped
    done = install(tmp_path, tmp_path / "github_path", FASTAPI_CI_CACHE="false", PATH=path)
    assert done.returncode == 0, done.stderr
    assert not marker.exists(), "the cached uv ran"
    assert not venv_marker.exists(), "the cached venv ran"
    assert not list(tmp_path.glob("fastapi-ci-private-cache.*"))  # removed afterwards
    assert (tmp_path / VENV / "bin" / "fastapi-ci").exists()


def save_cache(runner_temp: Path, archive: Path) -> None:
    """What actions/cache saves at the end of the job: the plan's cache-dir, as a tar."""
    subprocess.run(["tar", "-cf", str(archive), "-C", str(runner_temp), CACHE_DIR], check=True)


def restore_cache(archive: Path, runner_temp: Path) -> None:
    """A later job on a fresh runner: its RUNNER_TEMP empty, then the cache extracted."""
    shutil.rmtree(runner_temp, ignore_errors=True)
    runner_temp.mkdir(parents=True)
    subprocess.run(["tar", "-xf", str(archive), "-C", str(runner_temp)], check=True)


def unpacked_wheels(runner_temp: Path) -> list[Path]:
    """What uv unpacked into this job's wheel cache (nothing when it downloaded nothing)."""
    return list((runner_temp / "fastapi-ci-uv-cache").glob("archive-v*/*"))


def test_a_restored_venv_is_checked_against_the_lock_without_a_download(tmp_path: Path) -> None:
    runner_temp, archive = tmp_path / "_temp", tmp_path / "cache.tar"
    runner_temp.mkdir()
    assert install(runner_temp, runner_temp / "github_path").returncode == 0
    assert unpacked_wheels(runner_temp)  # the cold job downloaded and unpacked
    save_cache(runner_temp, archive)

    restore_cache(archive, runner_temp)
    # Offline: anything missing from the restored venv would fail the install.
    warm = install(runner_temp, runner_temp / "github_path", UV_OFFLINE="1")

    assert warm.returncode == 0, warm.stderr
    assert unpacked_wheels(runner_temp) == []
    assert "fastapi-ci 0.1.0" in warm.stdout
    # The job's stamp is this job's: the next action of the job installs nothing.
    assert install(runner_temp, runner_temp / "github_path", "plan").stdout == "installed=true\n"


def python_elsewhere(directory: Path) -> Path:
    """This Python at another path, as another runner image's tool cache has it: a copy."""
    directory.mkdir()
    copy = directory / "python3"
    shutil.copy2(Path(sys.executable).resolve(), copy)
    return directory


def test_a_venv_restored_for_another_interpreter_or_venv_path_is_rebuilt_not_used(
    tmp_path: Path,
) -> None:
    first_temp, archive = tmp_path / "first" / "_temp", tmp_path / "cache.tar"
    first_temp.mkdir(parents=True)
    assert install(first_temp, first_temp / "github_path").returncode == 0
    save_cache(first_temp, archive)
    shutil.rmtree(first_temp)  # that runner is gone

    # Another runner whose RUNNER_TEMP is elsewhere: the venv's scripts name the old path.
    moved_temp = tmp_path / "moved" / "_temp"
    assert cache_key(moved_temp) != cache_key(first_temp)  # never restored there on GitHub
    restore_cache(archive, moved_temp)
    moved = install(moved_temp, moved_temp / "github_path")
    assert moved.returncode == 0, moved.stderr
    assert "building a new one" in moved.stdout
    command = moved_temp / VENV / "bin" / "fastapi-ci"
    assert command.read_text().splitlines()[0] == f"#!{moved_temp / VENV / 'bin' / 'python'}"
    subprocess.run([str(command), "--help"], capture_output=True, check=True)

    # The same RUNNER_TEMP, the same Python version, installed at another path.
    elsewhere = python_elsewhere(tmp_path / "other-python")
    path = f"{elsewhere}:/usr/bin:/bin"
    restore_cache(archive, first_temp)
    assert cache_key(first_temp, PATH=path) != cache_key(first_temp)
    rebuilt = install(first_temp, first_temp / "github_path", PATH=path)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "building a new one" in rebuilt.stdout
    config = (first_temp / VENV / "pyvenv.cfg").read_text()
    assert f"home = {elsewhere}" in config.splitlines()
