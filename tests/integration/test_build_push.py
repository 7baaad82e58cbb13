"""build-push on the real engine, the real htpasswd registry, and moto's ECR.

One build of the example service is pushed and shared by the tests (module fixture); the
others rebuild from the engine's cache in about a second. The registry on 127.0.0.1:5000
is shared with other tests and is never stopped: "the registry stops mid-push" is a TCP
proxy in front of it that the test kills when the engine starts writing the manifest.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import socket
import subprocess
import tarfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest

from fastapi_ci.action_io import Console
from fastapi_ci.build_push import BuildPushInputs, registry_credentials
from fastapi_ci.clients.ecr import Ecr
from fastapi_ci.clients.registry import parse_reference
from fastapi_ci.errors import CheckFailed
from fastapi_ci.retry import RetryPolicy
from tests.support.build_push import (
    NAMESPACE,
    SECRET_AND_TARGET,
    SHA,
    Run,
    build_push,
)
from tests.support.components import Registry, free_port


def docker(docker_cli: list[str], *args: str, config: Path | None = None, stdin: str = "") -> str:
    env = {**os.environ, **({"DOCKER_CONFIG": str(config)} if config else {})}
    done = subprocess.run(
        [*docker_cli, *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"docker {' '.join(args)}: {done.stderr}"
    return done.stdout


@pytest.fixture(scope="module", autouse=True)
def remove_test_images(docker_cli: list[str]) -> Iterator[None]:
    """After the module: every local image tagged or pulled under NAMESPACE is removed."""
    yield
    listed = subprocess.run(
        [*docker_cli, "images", "--digests", "--format", "{{.Repository}} {{.ID}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    ids = {line.split()[1] for line in listed.stdout.splitlines() if NAMESPACE in line}
    if ids:
        subprocess.run([*docker_cli, "image", "rm", "-f", *ids], capture_output=True, check=False)


@pytest.fixture(scope="module")
def pushed(
    base_image: str,
    registry: Registry,
    tmp_path_factory: pytest.TempPathFactory,
) -> Run:
    """The example service built and pushed once, as a push to the default branch."""
    repository = f"{registry.host}/{NAMESPACE}/pushed"
    run = build_push(
        tmp_path_factory.mktemp("pushed"),
        base_image,
        image=repository,
        push="true",
        registry_username=registry.username,
        registry_password=registry.password,
    )
    assert run.code == 0, run.everything
    return run


def test_example_service_is_pushed_and_pulls_back_by_digest_with_labels_and_non_root_user(
    pushed: Run, docker_cli: list[str], registry: Registry, tmp_path: Path
) -> None:
    tags = pushed.output("tags").splitlines()
    repository = tags[0].rsplit(":", 1)[0]
    assert [tag.rsplit(":", 1)[1] for tag in tags] == ["main", "sha-0123456", "latest"]
    digest = pushed.output("digest")
    assert pushed.output("image") == f"{repository}@{digest}"
    assert float(pushed.output("size-mb")) > 0
    # The registry agrees: the tag resolves to the digest we reported.
    head = httpx.head(
        f"http://{registry.host}/v2/{repository.split('/', 1)[1]}/manifests/latest",
        auth=(registry.username, registry.password),
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    )
    assert head.headers["Docker-Content-Digest"] == digest
    # Drop the local copy, then pull it back by digest from the registry.
    for tag in tags:
        docker(docker_cli, "image", "rm", tag)
    config = tmp_path / "docker-config"
    config.mkdir()
    docker(
        docker_cli,
        "login",
        "-u",
        registry.username,
        "--password-stdin",
        registry.host,
        config=config,
        stdin=registry.password,
    )
    docker(docker_cli, "pull", f"{repository}@{digest}", config=config)
    inspected = json.loads(docker(docker_cli, "image", "inspect", f"{repository}@{digest}"))[0]
    labels = inspected["Config"]["Labels"]
    assert labels["org.opencontainers.image.revision"] == SHA
    assert labels["org.opencontainers.image.version"] == "main"
    assert labels["org.opencontainers.image.source"] == "https://github.com/acme/orders"
    assert labels["org.opencontainers.image.created"]
    assert inspected["Config"]["User"] == "10001"
    uid = docker(
        docker_cli,
        "run",
        "--rm",
        "--network",
        "none",
        "--entrypoint",
        "id",
        f"{repository}@{digest}",
        "-u",
    )
    assert uid.strip() == "10001"


def test_the_summary_and_outputs_describe_the_push(pushed: Run) -> None:
    assert pushed.summary.startswith("### ✅ build-push: pushed ")
    assert pushed.output("pushed") == "true"
    assert pushed.output("image-id").startswith("sha256:")


def test_wrong_password_fails_fast_without_retrying_or_printing_it(
    tmp_path: Path, base_image: str, registry: Registry
) -> None:
    password = f"wrong-{uuid.uuid4().hex}"
    started = time.monotonic()
    run = build_push(
        tmp_path,
        base_image,
        image=f"{registry.host}/{NAMESPACE}/denied",
        push="true",
        registry_username=registry.username,
        registry_password=password,
    )
    assert run.code == 1
    assert "login to 127.0.0.1:5000 as 'ci-user' was refused" in run.stdout + run.stderr
    assert "not retried" in run.everything
    assert "retrying" not in run.everything
    assert time.monotonic() - started < 30  # before any build
    assert password not in run.everything


def test_on_github_the_password_appears_only_in_the_add_mask_command(
    tmp_path: Path, base_image: str, registry: Registry
) -> None:
    password = f"wrong-{uuid.uuid4().hex}"
    run = build_push(
        tmp_path,
        base_image,
        image=f"{registry.host}/{NAMESPACE}/denied",
        push="true",
        registry_username=registry.username,
        registry_password=password,
        extra_env={"GITHUB_ACTIONS": "true"},
    )
    leaking = [line for line in run.everything.splitlines() if password in line]
    assert leaking == [f"::add-mask::{password}"]
    assert run.stdout.splitlines()[0] == f"::add-mask::{password}"  # before anything else


class RegistryProxy:
    """A TCP proxy to the registry that "stops the registry" when a manifest is PUT.

    Layers go through; the moment the engine starts writing the manifest, the listener and
    every connection are closed, as if the registry died mid-push. With `restart_after`
    it comes back on the same port that many seconds later.
    """

    def __init__(self, upstream: str, restart_after: float | None = None) -> None:
        self.upstream = upstream.rsplit(":", 1)[0], int(upstream.rsplit(":", 1)[1])
        self.port = free_port()
        self.restart_after = restart_after
        self.stopped = threading.Event()
        self.armed = True  # stop at the first manifest PUT only
        self.stops = 0
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        self.listener = self._listen()

    def _listen(self) -> socket.socket:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return listener

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            with self.lock:
                self.sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, to_registry: bool) -> None:
        try:
            while chunk := source.recv(65536):
                manifest_put = b"PUT /v2/" in chunk and b"/manifests/" in chunk
                if to_registry and manifest_put and self.armed:
                    self.stop()
                    return
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            for each in (source, target):
                with contextlib.suppress(OSError):
                    each.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        """Close the listener and every connection; maybe come back later."""
        with self.lock:
            if self.stopped.is_set():
                return
            self.stopped.set()
            self.armed = False
            self.stops += 1
            self.listener.close()
            for each in self.sockets:
                with contextlib.suppress(OSError):
                    each.shutdown(socket.SHUT_RDWR)
                each.close()
            self.sockets.clear()
        if self.restart_after is not None:
            threading.Timer(self.restart_after, self._restart).start()

    def _restart(self) -> None:
        with self.lock:
            self.stopped.clear()
            self.restart_after = None  # only once
            self.listener = self._listen()

    def close(self) -> None:
        """Stop for good."""
        self.restart_after = None
        self.stop()


@pytest.fixture
def registry_proxy(registry: Registry) -> Iterator[RegistryProxy]:
    proxy = RegistryProxy(registry.host)
    yield proxy
    proxy.close()


def test_registry_stopping_mid_push_is_retried_then_fails_clearly(
    tmp_path: Path,
    base_image: str,
    registry: Registry,
    registry_proxy: RegistryProxy,
) -> None:
    repository = f"127.0.0.1:{registry_proxy.port}/{NAMESPACE}/stopped"
    run = build_push(
        tmp_path,
        base_image,
        image=repository,
        push="true",
        push_attempts="3",
        registry_username=registry.username,
        registry_password=registry.password,
    )
    assert registry_proxy.stops == 1
    assert run.code == 1
    text = run.stdout + run.stderr
    assert f"push of {repository}:main: attempt 1/3 failed" in text
    assert "attempt 2/3 failed" in text
    assert f"gave up on push of {repository}:main after 3 attempts" in text
    assert "connection refused" in text  # the last attempt found the registry gone
    assert registry.password not in run.everything


def test_registry_coming_back_during_the_backoff_lets_the_push_succeed(
    tmp_path: Path, base_image: str, registry: Registry
) -> None:
    proxy = RegistryProxy(registry.host, restart_after=0.5)
    repository = f"127.0.0.1:{proxy.port}/{NAMESPACE}/flaky"
    try:
        run = build_push(
            tmp_path,
            base_image,
            image=repository,
            push="true",
            registry_username=registry.username,
            registry_password=registry.password,
        )
    finally:
        proxy.close()
    assert run.code == 0, run.everything
    assert "attempt 1/4 failed" in run.stdout + run.stderr
    assert run.output("digest").startswith("sha256:")


def test_size_budget_exceeded_fails_and_lists_the_largest_layers(
    tmp_path: Path, base_image: str, pushed: Run
) -> None:
    run = build_push(
        tmp_path,
        base_image,
        image=f"127.0.0.1:5000/{NAMESPACE}/too-big",
        push="false",
        size_budget_mb="50",
    )
    assert run.code == 1
    assert "over the size budget of 50 MB; not pushed" in run.stdout
    assert "largest layers:" in run.stdout
    assert "COPY /opt/venv /opt/venv" in run.stdout
    assert float(run.output("size-mb")) > 50


def test_ecr_login_decodes_the_token_and_creates_the_missing_repository(
    moto_server: str,
) -> None:
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": moto_server,
    }
    ecr = Ecr("eu-west-1", env, policy=RetryPolicy(attempts=1))
    login = ecr.login()
    assert login.credentials.username == "AWS"
    assert login.credentials.password.get_secret_value()
    assert login.registry.endswith(".dkr.ecr.eu-west-1.amazonaws.com")
    name = f"acme/orders-{uuid.uuid4().hex[:6]}"
    assert ecr.ensure_repository(name, create=True) is True
    assert ecr.ensure_repository(name, create=True) is False  # already there: left alone
    described = boto3.client(
        "ecr",
        region_name="eu-west-1",
        endpoint_url=moto_server,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).describe_repositories(repositoryNames=[name])
    assert described["repositories"][0]["repositoryName"] == name
    with pytest.raises(CheckFailed, match="does not exist"):
        ecr.ensure_repository(f"missing-{uuid.uuid4().hex[:6]}", create=False)


def test_the_action_masks_the_ecr_password_and_creates_the_repository(moto_server: str) -> None:
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": moto_server,
        "GITHUB_ACTIONS": "true",
    }
    name = f"acme/svc-{uuid.uuid4().hex[:6]}"
    image = f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{name}"
    inputs = BuildPushInputs(image=image, ecr=True, ecr_create_repository=True)
    stdout = io.StringIO()
    console = Console(env=env, stdout=stdout, stderr=stdout)
    credentials = registry_credentials(
        inputs, parse_reference(image), env, console, RetryPolicy(attempts=1)
    )
    assert credentials is not None
    assert credentials.registry == "123456789012.dkr.ecr.us-east-1.amazonaws.com"
    assert f"::add-mask::{credentials.password.get_secret_value()}" in stdout.getvalue()
    assert f"created the ECR repository {name}" in stdout.getvalue()


def layer_texts(docker_cli: list[str], image: str, tmp_path: Path) -> dict[str, bytes]:
    """Every file of `docker save IMAGE`, each layer tar unpacked: name -> bytes."""
    archive = tmp_path / "saved.tar"
    docker(docker_cli, "save", "--output", str(archive), image)
    contents: dict[str, bytes] = {}
    with tarfile.open(archive) as saved:
        for member in saved.getmembers():
            data = saved.extractfile(member) if member.isfile() else None
            if data is None:
                continue
            blob = data.read()
            contents[member.name] = blob
            if member.name.endswith("layer.tar") or member.name.startswith("blobs/"):
                with (
                    contextlib.suppress(tarfile.TarError),
                    tarfile.open(fileobj=io.BytesIO(blob)) as layer,
                ):
                    for entry in layer.getmembers():
                        inner = layer.extractfile(entry) if entry.isfile() else None
                        if inner is not None:
                            contents[f"{member.name}!{entry.name}"] = inner.read()
    return contents


def test_a_build_secret_is_read_in_its_run_step_and_in_no_layer_output_or_summary(
    tmp_path: Path, base_image: str, docker_cli: list[str]
) -> None:
    secret = f"s3cr3t-{uuid.uuid4().hex}"
    run = build_push(
        tmp_path,
        base_image,
        image=f"127.0.0.1:5000/{NAMESPACE}/secret",
        context=str(SECRET_AND_TARGET),
        push="false",
        target="checked",
        secrets="id=api_token,env=API_TOKEN",
        build_args=f"BASE_IMAGE={base_image} SECRET_VERSION={uuid.uuid4().hex}",
        json_report=True,
        extra_env={"API_TOKEN": secret, "GITHUB_ACTIONS": "true"},
    )
    assert run.code == 0, run.everything
    # Masked first thing; nowhere else in the log, the outputs or the summary.
    assert [line for line in run.everything.splitlines() if secret in line] == [
        f"::add-mask::{secret}"
    ]
    image = run.output("tags").splitlines()[0]
    # Readable in its RUN step: the step kept its hash.
    kept = docker(docker_cli, "run", "--rm", "--network", "none", image, "cat", "/secret.sha256")
    assert kept.strip() == hashlib.sha256(secret.encode()).hexdigest()
    # In no layer, no config, no history.
    contents = layer_texts(docker_cli, image, tmp_path)
    assert b"checked\n" in contents.values()  # the layers were really unpacked and read
    assert [name for name, blob in contents.items() if secret.encode() in blob] == []
    assert json.loads(run.stdout)["secret_ids"] == ["api_token"]  # the id; the value nowhere


def test_target_builds_the_named_stage_not_the_last(
    tmp_path: Path, base_image: str, docker_cli: list[str]
) -> None:
    run = build_push(
        tmp_path,
        base_image,
        image=f"127.0.0.1:5000/{NAMESPACE}/target",
        context=str(SECRET_AND_TARGET),
        push="false",
        target="checked",
        secrets="api_token=inline-value",
    )
    assert run.code == 0, run.everything
    image = run.output("tags").splitlines()[0]
    stage = docker(docker_cli, "run", "--rm", "--network", "none", image, "cat", "/stage")
    assert stage.strip() == "checked"
    last_dir = tmp_path / "last"
    last_dir.mkdir()
    last = build_push(
        last_dir,
        base_image,
        image=f"127.0.0.1:5000/{NAMESPACE}/target-last",
        context=str(SECRET_AND_TARGET),
        push="false",
    )
    assert last.code == 0, last.everything
    image = last.output("tags").splitlines()[0]
    stage = docker(docker_cli, "run", "--rm", "--network", "none", image, "cat", "/stage")
    assert stage.strip() == "runtime"


def test_a_monorepo_tag_is_pushed_as_version_minor_and_major_by_match_rules(
    tmp_path: Path, base_image: str, registry: Registry, pushed: Run
) -> None:
    repository = f"{registry.host}/{NAMESPACE}/api"
    rules = "\n".join(
        rf"type=semver,pattern={pattern},match=api/v(\d+\.\d+\.\d+)"
        for pattern in ("{{version}}", "{{major}}.{{minor}}", "{{major}}")
    )
    run = build_push(
        tmp_path,
        base_image,
        image=repository,
        push="true",
        tags=rules,
        flavor="latest=false",
        registry_username=registry.username,
        registry_password=registry.password,
        extra_env={"GITHUB_REF": "refs/tags/api/v1.2.3"},
    )
    assert run.code == 0, run.everything
    assert run.output("tag-names").splitlines() == ["1.2.3", "1.2", "1"]
    listed = httpx.get(
        f"http://{registry.host}/v2/{NAMESPACE}/api/tags/list",
        auth=(registry.username, registry.password),
    ).json()
    assert sorted(listed["tags"]) == ["1", "1.2", "1.2.3"]
