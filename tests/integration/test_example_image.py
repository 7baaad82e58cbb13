"""The example image on the real engine and the real registry: non-root, ready, pushable."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.components import Registry, free_port
from tests.support.example_service import alembic, wait_for_http


def docker(
    docker_cli: list[str], *args: str, config_dir: Path | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if config_dir is not None:
        # A private client config: logins in one test never leak into another (or the user's).
        env["DOCKER_CONFIG"] = str(config_dir)
    return subprocess.run(
        [*docker_cli, *args],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture
def running_container(
    docker_cli: list[str], example_image: str, example_python: Path, fresh_database: str
) -> Iterator[tuple[str, str]]:
    """The image started with --network host against a migrated PostgreSQL database."""
    assert alembic(example_python, fresh_database, "upgrade", "head").returncode == 0
    port = free_port()
    name = f"fastapi-ci-example-{uuid.uuid4().hex[:8]}"
    started = docker(
        docker_cli, "run", "-d", "--name", name, "--network", "host",
        "-e", f"DATABASE_URL={fresh_database}", "-e", "HOST=127.0.0.1", "-e", f"PORT={port}",
        "-e", "WEB_CONCURRENCY=1", example_image,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    try:
        yield name, f"http://127.0.0.1:{port}"
    finally:
        docker(docker_cli, "rm", "-f", name)


def test_image_runs_as_non_root_and_answers_readiness_against_postgresql(
    docker_cli: list[str], running_container: tuple[str, str]
) -> None:
    name, base_url = running_container
    try:
        wait_for_http(f"{base_url}/health/live", timeout=60)
    except AssertionError:
        logs = docker(docker_cli, "logs", name)
        raise AssertionError(f"container never answered:\n{logs.stdout}{logs.stderr}") from None
    ready = httpx.get(f"{base_url}/health/ready", timeout=10)
    assert ready.status_code == 200, ready.text

    uid = docker(docker_cli, "exec", name, "id", "-u").stdout.strip()
    assert uid.isdigit()
    assert uid != "0"
    inspected = json.loads(docker(docker_cli, "inspect", name).stdout)[0]
    assert inspected["Config"]["User"] not in ("", "0", "root")

    # The JSON access log carries the request id the client sent.
    httpx.get(f"{base_url}/health/live", headers={"X-Request-ID": "req-abc-123"}, timeout=5)
    logs = docker(docker_cli, "logs", name).stdout.splitlines()
    records = [json.loads(line) for line in logs if line.startswith("{")]
    assert any(record.get("request_id") == "req-abc-123" for record in records)


def test_image_does_not_migrate_at_start(docker_cli: list[str], example_image: str) -> None:
    config = json.loads(docker(docker_cli, "image", "inspect", example_image).stdout)[0]["Config"]
    start_command = " ".join((config.get("Entrypoint") or []) + (config.get("Cmd") or []))
    assert "alembic" not in start_command
    assert "migrat" not in start_command


def test_push_with_credentials_succeeds_and_without_them_is_refused(
    docker_cli: list[str], example_image: str, registry: Registry, tmp_path: Path
) -> None:
    target = f"{registry.host}/fastapi-ci/example:push-{uuid.uuid4().hex[:8]}"
    assert docker(docker_cli, "tag", example_image, target).returncode == 0
    try:
        anonymous = tmp_path / "anonymous"
        anonymous.mkdir()
        refused = docker(docker_cli, "push", target, config_dir=anonymous)
        assert refused.returncode != 0
        assert "no basic auth credentials" in refused.stderr + refused.stdout

        logged_in = tmp_path / "logged-in"
        logged_in.mkdir()
        login = docker(
            docker_cli, "login", registry.host, "-u", registry.username, "--password-stdin",
            config_dir=logged_in, stdin=registry.password,
        )  # fmt: skip
        assert login.returncode == 0, login.stderr
        pushed = docker(docker_cli, "push", target, config_dir=logged_in)
        assert pushed.returncode == 0, pushed.stderr

        tag = target.rsplit(":", 1)[1]
        manifest = httpx.get(
            f"http://{registry.host}/v2/fastapi-ci/example/manifests/{tag}",
            auth=(registry.username, registry.password),
            headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
            timeout=10,
        )
        assert manifest.status_code == 200
        assert manifest.headers["Docker-Content-Digest"].startswith("sha256:")
    finally:
        docker(docker_cli, "image", "rm", target)


def test_wrong_password_is_refused_by_the_registry(
    docker_cli: list[str], registry: Registry, tmp_path: Path
) -> None:
    login = docker(
        docker_cli, "login", registry.host, "-u", registry.username, "--password-stdin",
        config_dir=tmp_path, stdin="not-the-password",
    )  # fmt: skip
    assert login.returncode != 0
    assert "unauthorized" in (login.stderr + login.stdout).lower()
