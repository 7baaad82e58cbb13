"""Every install path we ship installs exactly the locked versions, whatever is released later.

A local package directory (pip's and uv's `--find-links`) offers what PyPI will one day:
newer releases of locked packages, of the targets of the extras they are asked for with
(`coverage[toml]`, `cachecontrol[filecache]`, `sqlalchemy[asyncio]`), of the build backends and
of uv itself. Each install path must still install the lock, byte for byte as pinned: ci.yml's
built-in install-command and selftest's install step (pip 23 in a fresh venv, as a runner's
Python has it), the actions' install script (uv bootstrapped by pip, then `uv sync`), and the
main job's example venv (`uv pip sync`). The fake releases are wheels this test writes; a real
one would be the same bytes to pip and uv.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.e2e.conftest import copy_tracked_files
from tests.support.components import EXAMPLE_SERVICE, REPO_ROOT
from tests.support.install import step_script, venv_with_pip_23

# Extras that locked packages are asked for with; a later release declares them too.
EXTRAS = {"coverage": ["toml"], "cachecontrol": ["filecache"], "sqlalchemy": ["asyncio"]}
# Beyond the locks: the build backends and uv itself.
NOT_IN_THE_LOCKS = ["hatchling", "uv-build", "uv", "tomli"]
NEWER = "99.0.0"
LOCK_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==(\S+)", re.MULTILINE)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def write_wheel(directory: Path, name: str, version: str, extras: list[str]) -> None:
    """A valid pure-Python wheel whose import fails loudly: it must never be installed."""
    module = name.replace("-", "_")
    dist_info = f"{module}-{version}.dist-info"
    files = {
        f"{module}/__init__.py": f"raise ImportError('{name} {version}: after the lock')\n",
        f"{dist_info}/METADATA": "Metadata-Version: 2.1\n"
        f"Name: {name}\nVersion: {version}\n"
        + "".join(f"Provides-Extra: {extra}\n" for extra in extras),
        f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nGenerator: fastapi-ci-tests\n"
        "Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = "\n".join(record) + "\n"
    with zipfile.ZipFile(directory / f"{module}-{version}-py3-none-any.whl", "w") as wheel:
        for path, text in files.items():
            wheel.writestr(path, text)


def uv_lock_versions() -> dict[str, str]:
    lock = tomllib.loads((REPO_ROOT / "uv.lock").read_text())
    return {canonical(p["name"]): p["version"] for p in lock["package"]}


@pytest.fixture(scope="module")
def newer_releases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A newer release of every package any of our locks names, and of what they build with."""
    directory = tmp_path_factory.mktemp("newer-releases")
    names = {*NOT_IN_THE_LOCKS, *uv_lock_versions()}
    for requirements in EXAMPLE_SERVICE.glob("requirements*.txt"):
        names |= locked_versions(requirements).keys()
    for name in sorted(names - {"fastapi-ci"}):
        write_wheel(directory, name, NEWER, EXTRAS.get(name, []))
    return directory


def locked_versions(requirements: Path) -> dict[str, str]:
    return {
        canonical(name): version for name, _, version in LOCK_LINE.findall(requirements.read_text())
    }


def installed_versions(python: Path) -> dict[str, str]:
    listing = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.metadata as m, json;"
            "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {canonical(name): version for name, version in json.loads(listing).items()}


def assert_exactly_locked(python: Path, locked: dict[str, str]) -> None:
    # pip is in the lock (pip-audit needs it) and in every venv already: left out of both.
    installed = installed_versions(python)
    for tool in ("pip", "setuptools", "wheel"):
        installed.pop(tool, None)
    assert installed == {name: v for name, v in locked.items() if name != "pip"}


@pytest.fixture(scope="module")
def runner_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A runner's fresh Python, as actions/setup-python leaves it: a venv with pip 23."""
    return venv_with_pip_23(tmp_path_factory.mktemp("runner-python") / "venv")


def run_step(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def pip_env(runner_bin: Path, newer_releases: Path) -> dict[str, str]:
    """The runner's PATH with its fresh Python first; pip sees the newer releases too."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PIP_"))}
    env["PATH"] = f"{runner_bin}:/usr/local/bin:/usr/bin:/bin"
    env["PIP_FIND_LINKS"] = str(newer_releases)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    # Bytecode is a third of pip's time here and has no say in what gets installed.
    env["PIP_NO_COMPILE"] = "1"
    return env


def strip_extras(lock_text: str) -> str:
    """The same lock as `uv pip compile` writes it without --no-strip-extras."""
    without = re.sub(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\[[^\]]*\]==", r"\1==", lock_text, flags=re.M)
    return without.replace(" --no-strip-extras", "")


def test_a_lock_without_its_extras_breaks_pip_23_once_a_newer_release_is_out(
    tmp_path: Path, newer_releases: Path, runner_bin: Path
) -> None:
    # The failure the lock must never have: proves these newer releases are what pip sees.
    service = tmp_path / "service"
    service.mkdir()
    (service / "requirements-dev.txt").write_text(
        strip_extras((EXAMPLE_SERVICE / "requirements-dev.txt").read_text())
    )
    env = pip_env(runner_bin, newer_releases)
    run = run_step(
        "python -m venv .venv && .venv/bin/python -m pip install -q -r requirements-dev.txt",
        service,
        env,
    )
    assert run.returncode != 0
    assert "must have their versions pinned with ==" in run.stderr
    assert f"-{NEWER}-py3-none-any.whl" in run.stderr


def test_ci_yml_builtin_install_installs_exactly_a_lock_even_without_its_extras(
    tmp_path: Path, newer_releases: Path, runner_bin: Path
) -> None:
    service = tmp_path / "service"
    service.mkdir()
    lock = service / "requirements-dev.txt"
    lock.write_text(strip_extras((EXAMPLE_SERVICE / "requirements-dev.txt").read_text()))
    env = pip_env(runner_bin, newer_releases) | {"INSTALL_COMMAND": ""}

    run = run_step(step_script("ci.yml", "Install the service"), service, env)

    assert run.returncode == 0, run.stderr
    # Said before pip runs: the user's lock is one release away from breaking pip < 24.
    warning = run.stdout.splitlines()[0]
    assert warning.startswith("::warning file=requirements-dev.txt::")
    assert "uv pip compile --no-strip-extras" in warning
    assert_exactly_locked(service / ".venv/bin/python", locked_versions(lock))


def test_selftest_install_step_installs_exactly_the_example_lock_with_pip_23(
    tmp_path: Path, newer_releases: Path, runner_bin: Path
) -> None:
    checkout = tmp_path / "checkout"
    (checkout / "example-service").mkdir(parents=True)
    lock = EXAMPLE_SERVICE / "requirements-dev.txt"
    (checkout / "example-service" / "requirements-dev.txt").write_text(lock.read_text())
    env = pip_env(runner_bin, newer_releases)

    run = run_step(step_script("selftest.yml", "Install the example service"), checkout, env)

    assert run.returncode == 0, run.stderr
    locked = locked_versions(lock)
    assert {"coverage", "cachecontrol", "sqlalchemy"} <= locked.keys()
    assert_exactly_locked(checkout / "example-service/.venv/bin/python", locked)


def test_actions_install_script_installs_the_lock_and_a_hash_pinned_uv(
    tmp_path: Path, newer_releases: Path, runner_bin: Path
) -> None:
    # A copy of the library, as a job checks it out: nothing built or cached yet.
    library = tmp_path / "fastapi-ci"
    copy_tracked_files(REPO_ROOT, library)
    runner_temp = tmp_path / "runner-temp"
    runner_temp.mkdir()
    # No uv on PATH: the script bootstraps its own from PyPI, as on a runner without uv.
    env = pip_env(runner_bin, newer_releases) | {
        "RUNNER_TEMP": str(runner_temp),
        "UV_FIND_LINKS": str(newer_releases),
    }

    run = subprocess.run(
        ["bash", str(library / "actions/_shared/install-fastapi-ci.sh"), "install"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )

    assert run.returncode == 0, run.stderr
    uv = runner_temp / "fastapi-ci-cache/uv/bin/uv"
    pinned = re.search(
        r"^uv==(\S+)", (REPO_ROOT / "actions/_shared/uv-requirements.txt").read_text(), re.M
    )
    assert pinned
    version = subprocess.run([str(uv), "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.split()[1] == pinned.group(1)
    installed = installed_versions(runner_temp / "fastapi-ci-cache/venv/bin/python")
    locked = uv_lock_versions()
    assert installed.pop("fastapi-ci") == locked["fastapi-ci"]
    assert NEWER not in installed.values()
    assert all(locked[name] == version for name, version in installed.items())


def test_main_job_example_venv_installs_exactly_the_example_lock(
    tmp_path: Path, newer_releases: Path
) -> None:
    pipeline = (REPO_ROOT / ".ci/pipeline").read_text()
    function = re.search(r"^example_venv\(\) \{\n.*?^\}\n", pipeline, re.M | re.S)
    assert function, ".ci/pipeline has no example_venv function"
    service = tmp_path / "example-service"
    service.mkdir()
    lock = EXAMPLE_SERVICE / "requirements-dev.txt"
    (service / "requirements-dev.txt").write_text(lock.read_text())
    env = {**os.environ, "UV_FIND_LINKS": str(newer_releases)}
    env.pop("VIRTUAL_ENV", None)

    run = run_step(f"{function.group(0)}\nservice_dir={service}\nexample_venv", tmp_path, env)

    assert run.returncode == 0, run.stderr
    assert_exactly_locked(service / ".venv/bin/python", locked_versions(lock))
