"""The files `fastapi-ci init` writes, rendered from the templates in `templates/`.

A template marks what it takes with `<<NAME>>` (neither YAML's `${{ }}` nor a Dockerfile's
`${VAR}` is touched); rendering refuses to leave one unfilled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from fastapi_ci.init.detect import Detection

LIBRARY = "fastapi-ci/fastapi-ci"
# The uv and Poetry the generated install commands and Dockerfiles pin. UV_VERSION is the uv
# of actions/_shared/uv-requirements.txt (a test keeps them equal).
UV_VERSION = "0.13.9"
POETRY_VERSION = "2.2.1"
# python:3.11-slim, by digest (the example service's base); the Dockerfile says to re-pin it.
BASE_IMAGE = (
    "python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7"
)
_PLACEHOLDER = re.compile(r"<<([A-Z_]+)>>")


def template(name: str) -> str:
    """The text of `templates/<name>.template`."""
    return files("fastapi_ci.init").joinpath(f"templates/{name}.template").read_text("utf-8")


def render(name: str, values: dict[str, str]) -> str:
    """Fill every `<<NAME>>` of a template; a placeholder without a value is a bug."""

    def fill(match: re.Match[str]) -> str:
        return values[match.group(1)]

    return _PLACEHOLDER.sub(fill, template(name))


@dataclass(frozen=True)
class Release:
    """The fastapi-ci release the callers pin: its commit, and the version for the comment."""

    commit: str
    version: str


def install_command(detection: Detection) -> str | None:
    """What ci.yml's install step runs for this package manager (None: its built-in one).

    The runners have no uv or Poetry: each is installed, pinned, into the runner's temp
    directory, never into the project's .venv (which gets the project's own lock).
    """
    tools = '"${RUNNER_TEMP:-/tmp}/fastapi-ci-tools"'
    if detection.package_manager == "uv":
        return (
            f"python -m venv {tools}"
            f" && {tools}/bin/pip install --quiet uv=={UV_VERSION}"
            f" && UV_PYTHON_DOWNLOADS=never {tools}/bin/uv sync --frozen --python python"
        )
    if detection.package_manager == "poetry":
        return (
            f"python -m venv {tools}"
            f" && {tools}/bin/pip install --quiet poetry=={POETRY_VERSION}"
            f" && POETRY_VIRTUALENVS_IN_PROJECT=true {tools}/bin/poetry install --no-interaction"
        )
    if detection.dev_requirements is not None:
        return None  # ci.yml installs requirements-dev.txt itself (exactly, when hashed)
    requirements = detection.requirements or "requirements.txt"
    return f"python -m venv .venv && .venv/bin/python -m pip install -r {requirements}"


def with_lines(detection: Detection, golden: str) -> list[str]:
    """The `with:` entries both callers share: the app, where it is, how it installs."""
    lines = [f"app: {detection.app.target}"]
    directory = detection.app.directory.as_posix()
    if directory != ".":
        lines.append(f"working-directory: {directory}")
    if golden != "openapi.json":
        lines.append(f"golden: {golden}")
    command = install_command(detection)
    if command is not None:
        lines.append(f"install-command: >-\n  {command}")
    elif detection.package_manager == "pip":
        lines.append("# install-command: empty, ci.yml installs requirements-dev.txt itself")
    if detection.package_manager == "pip" and detection.dev_requirements is None:
        lines.append("# TODO: the checks need pytest, pytest-cov and mypy in the project's .venv")
    return lines


def _indent(lines: list[str], spaces: int) -> str:
    pad = " " * spaces
    return "\n".join(pad + line.replace("\n", "\n" + pad) for line in lines)


def ci_caller(detection: Detection, release: Release, golden: str) -> str:
    """`.github/workflows/fastapi-ci.yml`: ci.yml on every pull request."""
    return render(
        "ci.yml",
        {
            "REF": release.commit,
            "RELEASE": f"v{release.version}",
            "WITH": _indent(with_lines(detection, golden), 6),
        },
    )


def deploy_caller(
    detection: Detection, release: Release, golden: str, service: str, image: str
) -> str:
    """`.github/workflows/fastapi-ci-deploy.yml`: deploy.yml on every push to main."""
    return render(
        "deploy.yml",
        {
            "REF": release.commit,
            "RELEASE": f"v{release.version}",
            "SERVICE": service,
            "IMAGE": image,
            "MIGRATE": "true" if detection.alembic else "false # no alembic.ini was found",
            "WITH": _indent(with_lines(detection, golden), 6),
        },
    )


def _requirements_hashed(project: Path, requirements: str) -> bool:
    try:
        return "--hash=" in (project / requirements).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False


def dockerfile(detection: Detection, project: Path, service: str) -> str:
    """A multi-stage, non-root Dockerfile that installs the project's lock."""
    manager = detection.package_manager
    if manager == "pip":
        requirements = detection.requirements or "requirements.txt"
        hashed = _requirements_hashed(project, requirements)
        builder = render(
            "builder-pip",
            {
                "REQUIREMENTS": requirements,
                "REQUIRE_HASHES": "--require-hashes " if hashed else "",
            },
        )
    else:
        builder = render(
            f"builder-{manager}", {"UV_VERSION": UV_VERSION, "POETRY_VERSION": POETRY_VERSION}
        )
    return render(
        "Dockerfile",
        {
            "SERVICE": service,
            "BASE_IMAGE": BASE_IMAGE,
            "BUILDER": builder.rstrip("\n"),
            "APP": detection.app.target,
        },
    )


def dockerignore() -> str:
    """A `.dockerignore` that keeps VCS, environments, caches, tests and secrets out."""
    return template("dockerignore")


def readiness_route() -> str:
    """The `/health/ready` router to include in the app."""
    return template("health_ready.py")
