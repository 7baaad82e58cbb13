"""Fixtures that run the example service for real: as a process, and as an image."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest

from tests.support.components import (
    EXAMPLE_SERVICE,
    PG_BIN,
    DisposablePostgres,
    Postgres,
    Registry,
    component_missing,
    free_port,
)
from tests.support.example_service import RunningService, example_env, wait_for_http
from tests.support.swarm import (
    FaultyVersions,
    SwarmService,
    Versions,
    create_service,
    push_faulty_versions,
    remove_service,
)


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


@pytest.fixture(scope="session")
def faulty(swarm: list[str], example_image: str, versions: Versions) -> Iterator[FaultyVersions]:
    """The faulty versions of verify's tests (Swarm and Kubernetes pull them alike)."""
    images = push_faulty_versions(swarm, example_image, versions)
    yield FaultyVersions(images)
    subprocess.run(
        [*swarm, "image", "rm", "-f", *images.values()], capture_output=True, check=False
    )
