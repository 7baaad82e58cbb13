"""Where the audit finds a project's pins: requirements files, uv.lock, poetry.lock."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest

from fastapi_ci.errors import InputError
from fastapi_ci.quality_gate import locks
from fastapi_ci.quality_gate.checks.audit import judge_audit
from fastapi_ci.quality_gate.context import GateContext
from fastapi_ci.quality_gate.project import Project
from fastapi_ci.quality_gate.runner import ToolRun
from fastapi_ci.quality_gate.scheduler import ProcessSlots

PROJECTS = Path(__file__).resolve().parents[2] / "fixtures" / "projects"
RECORDINGS = Path(__file__).resolve().parents[2] / "fixtures" / "quality_gate"


@pytest.fixture
def uv_workspace(tmp_path: Path) -> Path:
    return Path(shutil.copytree(PROJECTS / "uv-workspace", tmp_path / "repo"))


def test_a_workspace_members_audit_reads_the_lock_at_the_workspace_root(
    uv_workspace: Path, tmp_path: Path
) -> None:
    backend = uv_workspace / "backend"
    found = locks.find_dependency_file(backend)
    assert found == uv_workspace / "uv.lock"
    target = locks.audit_target(found, backend, tmp_path)
    assert target.description == "../uv.lock"
    assert target.arguments[-2:] == ["--no-deps", "--disable-pip"]
    pins = Path(target.arguments[1]).read_text().splitlines()
    lock = tomllib.loads(found.read_text())
    registry = [p for p in lock["package"] if "registry" in p["source"]]
    assert sorted(pins) == sorted(f"{p['name']}=={p['version']}" for p in registry)
    assert "ruff==0.15.0" in pins
    assert not any(pin.startswith("app==") for pin in pins)  # the member itself


def test_a_lock_above_the_repository_root_is_not_the_projects(tmp_path: Path) -> None:
    (tmp_path / "uv.lock").write_text("version = 1\n")
    project = tmp_path / "repo" / "svc"
    project.mkdir(parents=True)
    (tmp_path / "repo" / ".git").mkdir()
    (project / "pyproject.toml").write_text("[project]\nname = 'svc'\n")
    assert locks.find_dependency_file(project) == project / "pyproject.toml"
    (tmp_path / "repo" / "poetry.lock").write_text("")
    assert locks.find_dependency_file(project) == tmp_path / "repo" / "poetry.lock"


def test_requirements_txt_beside_the_project_comes_first(uv_workspace: Path) -> None:
    backend = uv_workspace / "backend"
    (backend / "requirements.txt").write_text("fastapi==0.165.0\n")
    assert locks.find_dependency_file(backend) == backend / "requirements.txt"


def test_a_poetry_lock_is_audited_as_its_pins() -> None:
    pins = locks.pinned_packages(PROJECTS / "poetry-project" / "poetry.lock")
    assert locks.PinnedPackage("fastapi", "0.165.0") in pins
    assert len(pins) == 28


def test_a_vulnerable_pin_of_a_lock_is_annotated_on_its_package_table(tmp_path: Path) -> None:
    lock = tmp_path / "poetry.lock"
    lock.write_text(
        '[[package]]\nname = "Jinja2"\nversion = "2.11.0"\n\n'
        '[[package]]\nname = "requests"\nversion = "2.19.0"\n\n'
        '[[package]]\nname = "svc-lib"\nversion = "0.1.0"\n'
        '[package.source]\ntype = "directory"\nurl = "../lib"\n'
    )
    project = Project(root=tmp_path, display_path="svc", python="python")
    context = GateContext(project=project, env={}, work_dir=tmp_path, process_slots=ProcessSlots(1))
    target = locks.audit_target(lock, tmp_path, tmp_path)
    assert Path(target.arguments[1]).read_text() == "Jinja2==2.11.0\nrequests==2.19.0\n"
    run = ToolRun(["pip-audit"], 1, (RECORDINGS / "pip-audit-vulnerable.json").read_text(), "", 1)
    result = judge_audit(context, target, run)
    assert result.status == "failed"
    assert [(a.file, a.line) for a in result.annotations[:2]] == [
        ("svc/poetry.lock", 2),
        ("svc/poetry.lock", 6),
    ]


def test_a_file_that_is_not_a_lock_exits_2_naming_the_input(tmp_path: Path) -> None:
    (tmp_path / "bad.lock").write_text("not = [toml")
    with pytest.raises(InputError, match="input 'requirements'"):
        locks.pinned_packages(tmp_path / "bad.lock")
    (tmp_path / "empty.lock").write_text("version = 1\n")
    with pytest.raises(InputError, match="no \\[\\[package\\]\\] tables"):
        locks.pinned_packages(tmp_path / "empty.lock")
