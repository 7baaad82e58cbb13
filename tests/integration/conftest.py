"""Fixtures that run the example service for real: as a process, and as an image."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import pytest
import yaml

from tests.support.components import (
    EXAMPLE_SERVICE,
    REPO_ROOT,
    Postgres,
    Registry,
    component_missing,
    free_port,
)
from tests.support.swarm import (
    SwarmService,
    Versions,
    create_service,
    push_faulty_versions,
    remove_service,
)

PG_BIN = Path("/usr/lib/postgresql/15/bin")
# The pip a runner's Python brings (actions/setup-python's 3.11, Ubuntu's python3-venv).
PIP_23 = "23.2.1"


def venv_with_pip_23(directory: Path) -> Path:
    """A fresh venv as a user's or a runner's Python makes it, with pip 23: its bin/."""
    subprocess.run(["python3", "-m", "venv", str(directory)], check=True)
    python = str(directory / "bin" / "python")
    pip_version = subprocess.run(
        [python, "-m", "pip", "--version"], capture_output=True, text=True, check=True
    ).stdout.split()[1]
    if pip_version != PIP_23:
        subprocess.run([python, "-m", "pip", "install", "-q", f"pip=={PIP_23}"], check=True)
    return directory / "bin"


def step_script(workflow: str, step_name: str) -> str:
    """The `run:` text of a workflow step, as the runner would execute it."""
    jobs = yaml.safe_load((REPO_ROOT / ".github" / "workflows" / workflow).read_text())["jobs"]
    for job in jobs.values():
        for step in job.get("steps", []):
            if step.get("name") == step_name:
                return str(step["run"])
    raise AssertionError(f"{workflow} has no step named {step_name!r}")


def wait_for_http(url: str, timeout: float = 30.0) -> httpx.Response:
    """Poll `url` until it answers at all (any status), or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            return httpx.get(url, timeout=5)
        except httpx.HTTPError as error:
            last_error = error
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout}s: {last_error}")


@dataclass
class DisposablePostgres:
    """A PostgreSQL cluster of one test's own, which the test may stop."""

    data_dir: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def pg_ctl(self, *args: str, check: bool = True) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir),
             *args],
            check=check,
            capture_output=True,
            timeout=60,
        )  # fmt: skip

    def stop(self) -> None:
        self.pg_ctl("stop", "-m", "immediate")


@pytest.fixture
def disposable_postgres() -> Iterator[DisposablePostgres]:
    """initdb + start a throwaway cluster on a free port (trust auth on loopback)."""
    if not (PG_BIN / "initdb").exists() or shutil.which("runuser") is None:
        component_missing("PostgreSQL", f"{PG_BIN}/initdb not installed")
    # The server refuses to run as root, and pytest's tmp_path is private to root.
    data_dir = Path(tempfile.mkdtemp(prefix="fastapi-ci-pg-")) / "data"
    data_dir.parent.chmod(0o755)
    shutil.chown(data_dir.parent, "postgres", "postgres")
    subprocess.run(
        [
            "runuser",
            "-u",
            "postgres",
            "--",
            str(PG_BIN / "initdb"),
            "-D",
            str(data_dir),
            "--auth=trust",
            "--username=postgres",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    cluster = DisposablePostgres(data_dir=data_dir, port=free_port())
    cluster.pg_ctl(
        "start",
        "-w",
        "-l",
        str(data_dir.parent / "server.log"),
        "-o",
        f"-p {cluster.port} -k {data_dir.parent} -c listen_addresses=127.0.0.1",
    )
    try:
        yield cluster
    finally:
        cluster.pg_ctl("stop", "-m", "immediate", check=False)  # the test may have stopped it
        shutil.rmtree(data_dir.parent, ignore_errors=True)


def example_env(python: Path, database_url: str, **extra: str) -> dict[str, str]:
    """The environment the example service runs with in these tests."""
    return {
        **os.environ,
        "PATH": f"{python.parent}{os.pathsep}{os.environ['PATH']}",
        "DATABASE_URL": database_url,
        **extra,
    }


def alembic(python: Path, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the example service's alembic (from its own venv) against `database_url`."""
    return subprocess.run(
        [str(python), "-m", "alembic", *args],
        cwd=EXAMPLE_SERVICE,
        env=example_env(python, database_url),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@dataclass
class RunningService:
    """`python -m app` started from the example's venv, on a free loopback port."""

    process: subprocess.Popen[str]
    base_url: str


@pytest.fixture
def start_service(example_python: Path) -> Iterator[Callable[[str], RunningService]]:
    """A factory: start the example service against a database URL; stopped after the test."""
    started: list[subprocess.Popen[str]] = []
    logs: list[IO[str]] = []

    def start(database_url: str) -> RunningService:
        port = free_port()
        log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115  # closed with the process
        logs.append(log)
        process = subprocess.Popen(
            [str(example_python), "-m", "app"],
            cwd=EXAMPLE_SERVICE,
            env=example_env(
                example_python, database_url, HOST="127.0.0.1", PORT=str(port), WEB_CONCURRENCY="1"
            ),
            # A file, not a pipe: nobody reads a pipe here, and a service that logs every
            # request blocks once its 64 KiB buffer is full.
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        started.append(process)
        base_url = f"http://127.0.0.1:{port}"
        wait_for_http(f"{base_url}/health/live")
        return RunningService(process=process, base_url=base_url)

    yield start
    for process in started:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
    for log in logs:
        log.close()


@pytest.fixture
def service(
    swarm: list[str], versions: Versions, registry: Registry, postgres: Postgres
) -> Iterator[SwarmService]:
    """The example service at v1 on the real Swarm, removed afterwards."""
    created = create_service(swarm, versions, registry, postgres.url)
    yield created
    remove_service(swarm, created.name)


@dataclass(frozen=True)
class FaultyVersions:
    """One bad v2 per fault of tests/fixtures/verify/faulty-version, in the local registry."""

    images: dict[str, str]


@pytest.fixture(scope="session")
def faulty(swarm: list[str], example_image: str, versions: Versions) -> Iterator[FaultyVersions]:
    """The faulty versions of verify's tests (Swarm and Kubernetes pull them alike)."""
    images = push_faulty_versions(swarm, example_image, versions)
    yield FaultyVersions(images)
    subprocess.run(
        [*swarm, "image", "rm", "-f", *images.values()], capture_output=True, check=False
    )
