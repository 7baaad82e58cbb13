"""fastapi-ci as a normal tool: the built wheel, uploaded to a package index, installed by
uv, by pipx (a pinned pipx, in a fresh venv with the pip 23 users' Pythons bring), and with
every extra by pip 23; and the wheel release.yml builds from a release tag says the tag's version.

The index is a real one (pypiserver) on 127.0.0.1, started by the test; what it does not
hold (fastapi-ci's dependencies) it redirects to PyPI, as a private index in front of PyPI
would. The package is built as release.yml builds it: from the tagged tree, with the tag's
commit written into it for `fastapi-ci init`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.e2e.conftest import copy_tracked_files
from tests.support.components import REPO_ROOT, free_port
from tests.support.install import step_script, venv_with_pip_23
from tests.support.release import RELEASE, commit_all, git, set_version

BIN = Path(sys.executable).parent
UV = shutil.which("uv") or str(BIN / "uv")
RELEASE_COMMIT = "89abcdef0123456789abcdef0123456789abcdef"
VERSION = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist and the wheel, built the way release.yml builds them."""
    tree = tmp_path_factory.mktemp("tagged-tree")
    copy_tracked_files(REPO_ROOT, tree)
    (tree / "scripts/fastapi_ci/init/release-commit").write_text(RELEASE_COMMIT + "\n")
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([UV, "build", "--quiet", "--out-dir", str(out)], cwd=tree, check=True)
    return out


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A package index on 127.0.0.1 that accepts uploads: its base URL."""
    packages = tmp_path_factory.mktemp("index-packages")
    port = free_port()
    server = subprocess.Popen(
        [
            str(BIN / "pypi-server"), "run", "--host", "127.0.0.1", "--port", str(port),
            # Uploads without authentication: the server lives for this test only.
            "--authenticate", ".", "--passwords", ".",
            "--fallback-url", "https://pypi.org/simple/",
            str(packages),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{url}/simple/", timeout=2):  # noqa: S310 - loopback
                break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                pytest.fail("pypi-server did not start", pytrace=False)
            time.sleep(0.2)
    try:
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def distributions(dist: Path) -> list[Path]:
    """The built files (uv build also leaves a .gitignore in the output directory)."""
    return sorted([*dist.glob("*.whl"), *dist.glob("*.tar.gz")])


def test_the_release_builds_an_sdist_and_a_wheel_named_by_the_version(dist: Path) -> None:
    assert [path.name for path in distributions(dist)] == [
        f"fastapi_ci-{VERSION}-py3-none-any.whl",
        f"fastapi_ci-{VERSION}.tar.gz",
    ]


@pytest.fixture(scope="module")
def published(dist: Path, index: str) -> str:
    """The release uploaded to the index (once: an index refuses a second upload): its URL."""
    subprocess.run(
        [UV, "publish", "--quiet", "--publish-url", f"{index}/", "--username", "ci",
         "--password", "unused", *map(str, distributions(dist))],
        check=True,
    )  # fmt: skip
    return index


def user_env(**extra: str) -> dict[str, str]:
    """A user's shell: none of this session's venv, test settings, or local wheel directory."""
    drop = ("FASTAPI_CI_", "VIRTUAL_ENV", "PIP_FIND_LINKS", "PIP_INDEX_URL", "UV_")
    return {**{k: v for k, v in os.environ.items() if not k.startswith(drop)}, **extra}


def assert_released_version(command: Path) -> None:
    shown = subprocess.run([command, "--version"], capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == f"fastapi-ci {VERSION}"


def test_uv_tool_install_from_an_index_gives_the_command_at_the_released_version(
    published: str, tmp_path: Path
) -> None:
    index = published
    tools = {
        **user_env(),
        "UV_TOOL_DIR": str(tmp_path / "tools"),
        "UV_TOOL_BIN_DIR": str(tmp_path / "bin"),
    }
    subprocess.run(
        [UV, "tool", "install", "--quiet", "--python", sys.executable,
         "--index-url", f"{index}/simple/", "fastapi-ci"],
        env=tools,
        check=True,
    )  # fmt: skip
    command = tmp_path / "bin" / "fastapi-ci"

    assert_released_version(command)

    # The release's commit came with it: init pins the callers to it without --ref.
    project = tmp_path / "project"
    shutil.copytree(REPO_ROOT / "tests/fixtures/projects/init-uv", project)
    plan = subprocess.run(
        [command, "init", "--dry-run", "--json", "--path", str(project)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(plan.stdout)["release"] == {"version": VERSION, "commit": RELEASE_COMMIT}


def test_pipx_install_from_an_index_gives_the_command_at_the_released_version(
    published: str, tmp_path: Path
) -> None:
    # pipx as users have it: the version the lock pins, hash-checked, into a fresh venv of
    # its own with pip 23.
    runner_bin = venv_with_pip_23(tmp_path / "pipx-venv")
    requirements = tmp_path / "pipx-requirements.txt"
    subprocess.run(
        [UV, "export", "--quiet", "--frozen", "--only-group", "tool-installers",
         "--no-emit-project", "--project", str(REPO_ROOT), "--output-file", str(requirements)],
        check=True,
    )  # fmt: skip
    env = user_env(PIP_CONFIG_FILE=os.devnull)
    subprocess.run(
        [runner_bin / "python", "-m", "pip", "install", "--quiet", "--require-hashes",
         "--no-deps", "-r", requirements],
        env=env,
        check=True,
    )  # fmt: skip
    pipx_home = {
        "PIPX_HOME": str(tmp_path / "pipx"),
        "PIPX_BIN_DIR": str(tmp_path / "bin"),
        "PIPX_MAN_DIR": str(tmp_path / "man"),
    }
    subprocess.run(
        [runner_bin / "pipx", "install", "--quiet", "--index-url", f"{published}/simple/",
         "fastapi-ci"],
        env=env | pipx_home,
        check=True,
    )  # fmt: skip

    assert_released_version(tmp_path / "bin" / "fastapi-ci")
    listed = subprocess.run(
        [runner_bin / "pipx", "list", "--short"],
        env=env | pipx_home,
        capture_output=True,
        text=True,
        check=True,
    )
    assert listed.stdout.split() == ["fastapi-ci", VERSION]


def test_pip_23_installs_the_release_with_every_extra_from_the_index(
    published: str, tmp_path: Path
) -> None:
    bin_dir = venv_with_pip_23(tmp_path / "venv")
    subprocess.run(
        [bin_dir / "python", "-m", "pip", "install", "--quiet", "--index-url",
         f"{published}/simple/", "fastapi-ci[all]"],
        env=user_env(PIP_CONFIG_FILE=os.devnull),
        check=True,
    )  # fmt: skip

    assert_released_version(bin_dir / "fastapi-ci")
    # `all` names the package's own three extras: each of their requirements is installed.
    probe = (
        "import importlib.metadata as m, json; print(json.dumps({'requires': m.requires("
        "'fastapi-ci'), 'installed': [d.metadata['Name'] for d in m.distributions()]}))"
    )
    found = json.loads(
        subprocess.run(
            [bin_dir / "python", "-c", probe], capture_output=True, text=True, check=True
        ).stdout
    )
    extras = ("quality", "migrations", "deploy")
    wanted = {
        canonicalize_name(requirement.name)
        for requirement in map(Requirement, found["requires"])
        if requirement.marker is None
        or any(requirement.marker.evaluate({"extra": extra}) for extra in extras)
    } - {"fastapi-ci"}
    assert {"ruff", "squawk-cli", "boto3", "kubernetes"} <= wanted  # one of each extra
    assert wanted <= {canonicalize_name(name) for name in found["installed"]}


def test_the_wheel_release_yml_builds_from_a_release_tag_says_the_tags_version(
    tmp_path: Path,
) -> None:
    # main at a version the release tags: .ci/release.py as release.yml's first job runs it.
    library = tmp_path / "library"
    copy_tracked_files(REPO_ROOT, library)
    git(library, "init", "-q", "-b", "main")
    commit_all(library, "main")
    set_version(library, "1.4.0")
    released = subprocess.run(
        [sys.executable, str(RELEASE), "1.4.0", "--repository", "acme/fastapi-ci",
         "--repo", str(library)],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert released.returncode == 0, released.stderr
    tag = "v1.4.0"
    # The build job: a checkout of the tag, then release.yml's own build step.
    checkout = tmp_path / "checkout"
    git(tmp_path, "clone", "--quiet", "--branch", tag, str(library), str(checkout))
    runner_temp = tmp_path / "runner-temp"
    runner_temp.mkdir()
    runner_python = Path(sys.executable).resolve().parent  # setup-python's, with pip
    build = subprocess.run(
        [
            "bash",
            "-e",
            "-o",
            "pipefail",
            "-c",
            step_script("release.yml", "Build the sdist and the wheel"),
        ],
        cwd=checkout,
        env=user_env(
            VERSION=tag.removeprefix("v"),
            RUNNER_TEMP=str(runner_temp),
            PATH=f"{runner_python}:/usr/bin:/bin",
            PIP_CONFIG_FILE=os.devnull,
        ),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    wheels = list((checkout / "dist").glob("*.whl"))
    assert len(wheels) == 1

    venv = tmp_path / "venv"
    subprocess.run([UV, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    subprocess.run(
        [UV, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), str(wheels[0])],
        env=user_env(),
        check=True,
    )
    shown = subprocess.run(
        [venv / "bin" / "fastapi-ci", "--version"], capture_output=True, text=True, check=True
    )
    assert shown.stdout.split() == ["fastapi-ci", tag.removeprefix("v")]
