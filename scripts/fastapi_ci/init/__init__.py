"""init: set a FastAPI project up for fastapi-ci in one command.

`fastapi-ci init` reads the project (the app, its directory, its package manager, alembic),
then writes what adopting the library takes: the callers of ci.yml and deploy.yml pinned to
a release commit, the golden OpenAPI file, a Dockerfile that passes build-push's policy and
its `.dockerignore`, and a readiness route to include. It never edits the project's code,
never overwrites a file without `--force`, and `--dry-run` only shows the plan.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import version
from importlib.resources import files
from pathlib import Path
from typing import Literal

from pydantic import Field

from fastapi_ci.action_io import Action, ActionInputs, ActionResult, Console
from fastapi_ci.build_push import Finding, check_dockerfile
from fastapi_ci.errors import InputError
from fastapi_ci.init import render
from fastapi_ci.init.detect import Detection, PackageManager, detect
from fastapi_ci.openapi_document import dump_document
from fastapi_ci.schema_guard import APP_TARGET, export_openapi, write_atomically

__all__ = ["INIT", "InitInputs", "run_init"]

COMMIT = re.compile(r"^[0-9a-f]{40}$")
VERSION = re.compile(r"^v?(\d+\.\d+\.\d+)$")
GOLDEN = "openapi.json"
CI_CALLER = ".github/workflows/fastapi-ci.yml"
DEPLOY_CALLER = ".github/workflows/fastapi-ci-deploy.yml"
READINESS_FILE = "health_ready.py"
# Written into the wheel by release.yml: the commit the release's tag points to.
RELEASE_COMMIT_FILE = "release-commit"

Status = Literal["create", "overwrite", "keep"]


class InitInputs(ActionInputs):
    """Inputs of `fastapi-ci init`."""

    path: str = Field(default=".", description="The repository to set up (its root).")
    app: str | None = Field(
        default=None,
        description="The FastAPI app as MODULE:ATTRIBUTE (default: found in the source).",
    )
    working_directory: str | None = Field(
        default=None,
        description="The project's directory in the repository (default: where the app is).",
    )
    package_manager: PackageManager | None = Field(
        default=None, description="uv, poetry or pip (default: from the lock files)."
    )
    python: str | None = Field(
        default=None,
        description="The interpreter that can import the app, to export the golden file "
        "(default: WORKING_DIRECTORY/.venv/bin/python, else `python` on PATH).",
    )
    ref: str | None = Field(
        default=None,
        description="The fastapi-ci commit the callers pin (40 hex digits; default: the "
        "installed release's).",
    )
    release: str | None = Field(
        default=None,
        description="The version named beside the pin (default: the installed fastapi-ci's).",
    )
    image: str | None = Field(
        default=None, description="The image repository (default: ghcr.io/OWNER/SERVICE)."
    )
    force: bool = Field(default=False, description="Overwrite files that exist.")
    dry_run: bool = Field(default=False, description="Show the plan; write nothing.")

    def cross_input_errors(self, env: Mapping[str, str]) -> list[InputError]:
        """The app, the ref and the release, when given, each parse."""
        errors = []
        if self.app is not None and not APP_TARGET.match(self.app):
            errors.append(
                InputError(
                    "app",
                    f"expected MODULE:ATTRIBUTE such as app.main:app, got {self.app!r}",
                    why="the workflows import the app by its module path and the name bound "
                    "to FastAPI() in it",
                    fix="leave it unset to find the app in the source",
                    docs="readme#start-here-fastapi-ci-init",
                )
            )
        if self.ref is not None and not COMMIT.match(self.ref):
            errors.append(
                InputError(
                    "ref",
                    REF_EXPECTED + f", got {self.ref!r}",
                    why=REF_WHY,
                    docs="readme#start-here-fastapi-ci-init",
                )
            )
        if self.release is not None and not VERSION.match(self.release):
            errors.append(
                InputError(
                    "release",
                    f"expected X.Y.Z, got {self.release!r}",
                    docs="readme#start-here-fastapi-ci-init",
                )
            )
        return errors


REF_EXPECTED = "expected a full commit hash (40 hex digits)"
# Why init pins a commit, not a tag, from the user's side.
REF_WHY = (
    "a tag can be moved to other code; a commit hash cannot, so the callers run what you reviewed"
)


@dataclass
class PlannedFile:
    """One file init writes (or keeps), and why."""

    path: str  # relative to the repository root
    status: Status
    what: str
    content: str | None = None  # None: produced when written (the golden file)


def release_of(inputs: InitInputs) -> render.Release:
    """The commit and version the callers pin."""
    installed = version("fastapi-ci")
    wanted = inputs.release or installed
    matched = VERSION.match(wanted)
    if matched is None:  # the installed version's (the model checked the input's)
        raise InputError(
            "release", f"expected X.Y.Z, got {wanted!r}", docs="readme#start-here-fastapi-ci-init"
        )
    commit = inputs.ref
    if commit is None:
        bundled = files("fastapi_ci.init").joinpath(RELEASE_COMMIT_FILE)
        if bundled.is_file() and matched.group(1) == installed:
            commit = bundled.read_text("utf-8").strip()
    if commit is None:
        raise InputError(
            "ref",
            f"this fastapi-ci ({installed}) was not installed from a release, so it does "
            "not know the commit to pin",
            fix="pass --ref with the commit of the release tag: git ls-remote "
            f"https://github.com/{render.LIBRARY} refs/tags/v{matched.group(1)}",
            docs="readme#start-here-fastapi-ci-init",
        )
    if not COMMIT.match(commit):  # the bundled one's (the model checked the input's)
        raise InputError(
            "ref",
            REF_EXPECTED + f", got {commit!r}",
            why=REF_WHY,
            docs="readme#start-here-fastapi-ci-init",
        )
    return render.Release(commit=commit, version=matched.group(1))


def git_remote_repository(root: Path) -> str | None:
    """OWNER/NAME of the `origin` remote on GitHub, lower-cased as image names must be."""
    try:
        url = subprocess.run(
            ["git", "remote", "get-url", "origin"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    matched = re.search(r"github\.com[:/]([\w.-]+/[\w.-]+?)(?:\.git)?$", url)
    return matched.group(1).lower() if matched else None


def service_name(root: Path, detection: Detection) -> str:
    """A name for the service: its pyproject's name, else its directory's."""
    project = (root / detection.app.directory).resolve()
    name = project.name
    try:
        metadata = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
        name = metadata.get("project", {}).get("name") or (
            metadata.get("tool", {}).get("poetry", {}).get("name") or name
        )
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        pass
    return re.sub(r"[^a-z0-9-]+", "-", str(name).lower()).strip("-") or "service"


def _plan_file(root: Path, path: str, what: str, content: str | None, force: bool) -> PlannedFile:
    exists = (root / path).exists()
    status: Status = "keep" if exists and not force else "overwrite" if exists else "create"
    if status == "keep":
        what = "exists, --force replaces it"
    return PlannedFile(path, status, what, content)


def _generated_dockerfile_findings(text: str, project: Path, dockerignore: bool) -> list[Finding]:
    # The policy reads a file; the build context is the project (its requirements files).
    with tempfile.TemporaryDirectory(prefix="fastapi-ci-init-") as scratch:
        candidate = Path(scratch) / "Dockerfile"
        candidate.write_text(text, encoding="utf-8")
        return check_dockerfile(
            candidate, project, {}, ignore=("dockerignore",) if dockerignore else ()
        )


def _finding_line(finding: Finding) -> str:
    where = f"line {finding.line}: " if finding.line else ""
    fix = f" (fix: {finding.fix})" if finding.fix else ""
    return f"{finding.level} [{finding.rule}] {where}{finding.message}{fix}"


def run_init(inputs: InitInputs, console: Console) -> ActionResult:
    """Detect the project, plan the files, and write the plan unless it is a dry run."""
    root = Path(inputs.path)
    if not root.is_dir():
        raise InputError(
            "path",
            f"{root} is not a directory",
            fix="give the repository's root directory",
            docs="readme#start-here-fastapi-ci-init",
        )
    release = release_of(inputs)
    detection = detect(root, inputs.app, inputs.working_directory, inputs.package_manager)
    directory = detection.app.directory
    project = root / directory
    service = service_name(root, detection)
    owner_repository = git_remote_repository(root)
    image = inputs.image or f"ghcr.io/{owner_repository or 'your-org/' + service}"

    def under_project(name: str) -> str:
        return (directory / name).as_posix()

    plan = [
        _plan_file(
            root,
            CI_CALLER,
            "calls ci.yml on pull requests",
            render.ci_caller(detection, release, GOLDEN),
            inputs.force,
        ),
        _plan_file(
            root,
            DEPLOY_CALLER,
            "calls deploy.yml on pushes to main",
            render.deploy_caller(detection, release, GOLDEN, service, image),
            inputs.force,
        ),
        _plan_file(
            root,
            under_project(GOLDEN),
            f"the golden OpenAPI file of {detection.app.target}",
            None,
            inputs.force,
        ),
    ]
    dockerignore, dockerfile, findings = _plan_image_files(
        inputs, root, detection, project, service
    )
    plan += [dockerignore, dockerfile]
    notes: list[str] = []
    if detection.readiness_route is None:
        plan.append(
            _plan_file(
                root,
                under_project(READINESS_FILE),
                "a /health/ready route: include it in the app (app.include_router)",
                render.readiness_route(),
                inputs.force,
            )
        )
        notes.append(
            f"No readiness route found: include {under_project(READINESS_FILE)}'s router in "
            "the app, then re-export the golden file (fastapi-ci schema-guard --update)."
        )
    if not inputs.dry_run:
        _write_plan(inputs, root, detection, project, plan)
    return _result(inputs, detection, release, plan, findings, notes)


def _plan_image_files(
    inputs: InitInputs, root: Path, detection: Detection, project: Path, service: str
) -> tuple[PlannedFile, PlannedFile, list[Finding]]:
    """The .dockerignore and the Dockerfile, and build-push's policy findings on the latter."""
    directory = detection.app.directory
    dockerignore = _plan_file(
        root,
        (directory / ".dockerignore").as_posix(),
        "keeps .git, .venv, tests, secrets out of images",
        render.dockerignore(),
        inputs.force,
    )
    existing_dockerfile = project / "Dockerfile"
    generated_dockerfile = render.dockerfile(detection, project, service)
    dockerfile = _plan_file(
        root,
        (directory / "Dockerfile").as_posix(),
        "multi-stage, non-root, installs the lock",
        generated_dockerfile,
        inputs.force,
    )
    if dockerfile.status == "keep":
        # The .dockerignore init writes answers that rule already.
        skipped = () if dockerignore.status == "keep" else ("dockerignore",)
        findings = check_dockerfile(existing_dockerfile, project, {}, skipped)
        dockerfile.what = "exists, --force replaces it; build-push's policy on it: " + (
            f"{len(findings)} findings" if findings else "passes"
        )
    else:
        findings = _generated_dockerfile_findings(
            generated_dockerfile, project, dockerignore.status != "keep"
        )
    return dockerignore, dockerfile, findings


def _write_plan(
    inputs: InitInputs, root: Path, detection: Detection, project: Path, plan: list[PlannedFile]
) -> None:
    """Write every planned file not kept; the golden file is exported from the app."""
    for planned in plan:
        if planned.status == "keep":
            continue
        content = planned.content
        if content is None:
            content = dump_document(export_openapi(detection.app.target, project, inputs.python))
        write_atomically(root / planned.path, content, "path")


def _result(
    inputs: InitInputs,
    detection: Detection,
    release: render.Release,
    plan: list[PlannedFile],
    findings: list[Finding],
    notes: list[str],
) -> ActionResult:
    verb = {
        "create": "would write" if inputs.dry_run else "wrote",
        "overwrite": "would overwrite" if inputs.dry_run else "overwrote",
        "keep": "kept",
    }
    lines = [
        f"app: {detection.app.target} (in {detection.app.directory.as_posix()})",
        f"package manager: {detection.package_manager}; alembic: "
        + ("yes" if detection.alembic else "no")
        + "; readiness route: "
        + (str(detection.readiness_route) if detection.readiness_route else "none"),
        f"pinned to fastapi-ci v{release.version} ({release.commit})",
        "",
        *(f"{verb[each.status]:>15}  {each.path}  ({each.what})" for each in plan),
    ]
    if findings:
        lines += ["", "Dockerfile against build-push's policy:", *map(_finding_line, findings)]
    lines += ["", *notes] if notes else []
    errors = [each for each in findings if each.level == "error"]
    return ActionResult(
        passed=True,
        text="\n".join(lines),
        outputs={"files": " ".join(each.path for each in plan if each.status != "keep")},
        report={
            "dry_run": inputs.dry_run,
            "app": detection.app.target,
            "working_directory": detection.app.directory.as_posix(),
            "package_manager": detection.package_manager,
            "alembic": detection.alembic,
            "readiness_route": str(detection.readiness_route or ""),
            "release": {"version": release.version, "commit": release.commit},
            "files": [
                {"path": each.path, "status": each.status, "what": each.what} for each in plan
            ],
            "dockerfile_findings": [
                {
                    "rule": each.rule,
                    "level": each.level,
                    "line": each.line,
                    "message": each.message,
                    "fix": each.fix,
                }
                for each in findings
            ],
            "dockerfile_passes_policy": not errors,
            "notes": notes,
        },
    )


INIT = Action(
    name="init",
    help="Set a FastAPI project up for fastapi-ci: callers, golden file, Dockerfile, readiness.",
    inputs=InitInputs,
    run=run_init,
)
