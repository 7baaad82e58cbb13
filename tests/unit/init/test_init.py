"""`fastapi-ci init` on the three fixture projects (uv, poetry, pip): detection, files, pins."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fastapi_ci.build_push.policy import check_dockerfile
from fastapi_ci.cli import main
from fastapi_ci.init import render
from tests.support.components import REPO_ROOT

PROJECTS = REPO_ROOT / "tests" / "fixtures" / "projects"
RELEASE_COMMIT = "0123456789abcdef0123456789abcdef01234567"
TOOLS = Path(sys.executable).parent
SHELLCHECK = shutil.which("shellcheck") or ""


def copy_project(name: str, tmp_path: Path) -> Path:
    destination = tmp_path / name
    shutil.copytree(PROJECTS / name, destination)
    return destination


def init(
    capsys: pytest.CaptureFixture[str], project: Path, *flags: str
) -> tuple[int, dict[str, object]]:
    """Run `fastapi-ci init --json` on the project; the exit code and the JSON report."""
    code = main(
        [
            "init",
            "--json",
            "--path",
            str(project),
            "--ref",
            RELEASE_COMMIT,
            "--python",
            sys.executable,  # it has FastAPI: the golden file is exported with it
            *flags,
        ]
    )
    out = capsys.readouterr().out
    return code, (json.loads(out) if out.strip() else {})


@pytest.mark.parametrize(
    ("name", "app", "directory", "manager", "alembic"),
    [
        ("init-uv", "app.main:app", ".", "uv", False),
        ("init-poetry", "orders.api:application", "service", "poetry", True),
        ("init-pip", "main:app", ".", "pip", False),
    ],
)
def test_init_detects_the_app_its_directory_package_manager_and_alembic(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    name: str,
    app: str,
    directory: str,
    manager: str,
    alembic: bool,
) -> None:
    code, report = init(capsys, copy_project(name, tmp_path), "--dry-run")

    assert code == 0
    assert (report["app"], report["working_directory"]) == (app, directory)
    assert (report["package_manager"], report["alembic"]) == (manager, alembic)


def test_a_dry_run_shows_the_plan_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    project = copy_project("init-uv", tmp_path)
    before = sorted(path.relative_to(project) for path in project.rglob("*"))

    code, report = init(capsys, project, "--dry-run")

    assert code == 0
    assert sorted(path.relative_to(project) for path in project.rglob("*")) == before
    planned = {each["path"]: each["status"] for each in report["files"]}  # type: ignore[attr-defined]
    assert planned == {
        ".github/workflows/fastapi-ci.yml": "create",
        ".github/workflows/fastapi-ci-deploy.yml": "create",
        "openapi.json": "create",
        ".dockerignore": "create",
        "Dockerfile": "create",
        "health_ready.py": "create",
    }


def test_init_writes_callers_pinned_to_the_release_commit_with_its_version(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    project = copy_project("init-poetry", tmp_path)

    assert init(capsys, project, "--release", "1.4.0")[0] == 0

    for caller in ("fastapi-ci.yml", "fastapi-ci-deploy.yml"):
        workflow = yaml.safe_load((project / ".github" / "workflows" / caller).read_text())
        job = next(iter(workflow["jobs"].values()))
        assert job["uses"].endswith(f"@{RELEASE_COMMIT}")
        assert job["with"]["app"] == "orders.api:application"
        assert job["with"]["working-directory"] == "service"
        assert "poetry install" in job["with"]["install-command"]
        text = (project / ".github" / "workflows" / caller).read_text()
        assert re.search(rf"@{RELEASE_COMMIT} # v1\.4\.0$", text, re.MULTILINE)
    deploy = yaml.safe_load((project / ".github/workflows/fastapi-ci-deploy.yml").read_text())
    assert deploy["jobs"]["deploy"]["with"]["migrate"] is True  # alembic.ini is there
    assert deploy["jobs"]["deploy"]["with"]["service"] == "orders"  # pyproject's name


def test_the_golden_file_is_the_apps_schema_as_schema_export_writes_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    project = copy_project("init-poetry", tmp_path)
    assert init(capsys, project)[0] == 0
    exported = tmp_path / "exported.json"
    assert (
        main(
            [
                "schema-export",
                "--app",
                "orders.api:application",
                "--app-dir",
                str(project / "service"),
                "--python",
                sys.executable,
                "--output",
                str(exported),
            ]
        )
        == 0
    )

    assert (project / "service" / "openapi.json").read_text() == exported.read_text()


@pytest.mark.parametrize("name", ["init-uv", "init-poetry", "init-pip"])
def test_the_written_dockerfile_passes_build_push_policy(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str
) -> None:
    project = copy_project(name, tmp_path)
    (project / "Dockerfile").unlink(missing_ok=True)

    code, report = init(capsys, project)

    context = project / str(report["working_directory"])
    assert code == 0
    assert report["dockerfile_passes_policy"] is True
    assert check_dockerfile(context / "Dockerfile", context, {}) == []


def test_an_existing_dockerfile_is_kept_and_its_violations_reported(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    project = copy_project("init-pip", tmp_path)
    original = (project / "Dockerfile").read_text()

    code, report = init(capsys, project)

    assert code == 0
    assert (project / "Dockerfile").read_text() == original
    rules = {each["rule"] for each in report["dockerfile_findings"]}  # type: ignore[attr-defined]
    assert {"non-root-user", "base-image-tag", "pip-no-cache-dir"} <= rules
    assert "dockerignore" not in rules  # init writes one
    assert report["dockerfile_passes_policy"] is False


def test_init_never_overwrites_without_force(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    project = copy_project("init-uv", tmp_path)
    assert init(capsys, project)[0] == 0
    caller = project / ".github" / "workflows" / "fastapi-ci.yml"
    caller.write_text("# the user's own edits\n")

    code, report = init(capsys, project)
    statuses = {each["path"]: each["status"] for each in report["files"]}  # type: ignore[attr-defined]

    assert code == 0
    assert caller.read_text() == "# the user's own edits\n"
    assert set(statuses.values()) == {"keep"}

    assert init(capsys, project, "--force")[0] == 0
    assert "ci.yml@" in caller.read_text()


def test_an_existing_readiness_route_gets_no_snippet(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    project = copy_project("init-pip", tmp_path)

    code, report = init(capsys, project)

    assert code == 0
    assert report["readiness_route"].endswith("main.py")  # type: ignore[union-attr]
    assert not (project / "health_ready.py").exists()


def test_the_written_files_pass_actionlint_and_zizmor(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for name in ("init-uv", "init-poetry", "init-pip"):
        project = copy_project(name, tmp_path)
        assert init(capsys, project)[0] == 0
        workflows = sorted(str(path) for path in (project / ".github/workflows").glob("*.yml"))
        lint = subprocess.run(
            [str(TOOLS / "actionlint"), "-shellcheck", SHELLCHECK, *workflows],
            capture_output=True,
            text=True,
            check=False,
        )
        assert lint.returncode == 0, lint.stdout + lint.stderr
        # No configuration: the user's repository has none.
        audit = subprocess.run(
            [
                str(TOOLS / "zizmor"),
                "--offline",
                "--no-config",
                "--persona",
                "auditor",
                str(project / ".github"),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert audit.returncode == 0, audit.stdout + audit.stderr


def test_the_readiness_snippet_is_a_router_that_answers_ready(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    project = copy_project("init-uv", tmp_path)
    assert init(capsys, project)[0] == 0
    namespace: dict[str, object] = {}
    exec((project / "health_ready.py").read_text(), namespace)  # noqa: S102 - our own template
    app = FastAPI()
    app.include_router(namespace["router"])  # type: ignore[arg-type]

    assert TestClient(app).get("/health/ready").json() == {"status": "ready"}


@pytest.mark.parametrize(
    ("flags", "input_name"),
    [
        (["--app", "not a target"], "app"),
        (["--ref", "v1"], "ref"),
        (["--release", "latest"], "release"),
        (["--path", "/nonexistent/project"], "path"),
    ],
)
def test_bad_input_exits_2_naming_the_input(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, flags: list[str], input_name: str
) -> None:
    project = copy_project("init-uv", tmp_path)

    code = main(["init", "--path", str(project), "--ref", RELEASE_COMMIT, *flags])

    assert code == 2
    assert f"input '{input_name}'" in capsys.readouterr().err


def test_without_a_ref_an_unreleased_install_asks_for_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = main(["init", "--dry-run", "--path", str(copy_project("init-uv", tmp_path))])

    assert code == 2
    assert "input 'ref'" in capsys.readouterr().err


def test_the_pinned_uv_is_the_one_the_actions_install() -> None:
    requirements = (REPO_ROOT / "actions/_shared/uv-requirements.txt").read_text()
    assert f"\nuv=={render.UV_VERSION} " in requirements
