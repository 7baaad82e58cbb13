"""What the gate works out about the project before running anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from fastapi_ci.errors import InputError
from fastapi_ci.quality_gate.project import Project, display_path_for, load_project


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_source_dirs_are_the_packages_not_tests_or_environments(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "app/__init__.py": "",
            "src/lib/__init__.py": "",
            "tests/__init__.py": "",
            ".venv/x/__init__.py": "",
            "scripts/tool.py": "",
        },
    )
    project = load_project(str(tmp_path), "python", {})
    assert project.source_dirs == ["app", "src/lib"]


def test_a_project_of_loose_modules_checks_those_modules(tmp_path: Path) -> None:
    write(tmp_path, {"main.py": "", "setup.py": "", "conftest.py": ""})
    assert load_project(str(tmp_path), "python", {}).source_dirs == ["main.py"]


def test_a_directory_without_python_is_not_a_project(tmp_path: Path) -> None:
    write(tmp_path, {"README.md": "hi", "node_modules/x.py": ""})
    with pytest.raises(InputError, match=r"input 'path': .* is not a Python project"):
        load_project(str(tmp_path), None, {})


def test_a_missing_path_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"input 'path': .* is not a directory"):
        load_project(str(tmp_path / "nope"), None, {})


def test_the_projects_venv_is_its_default_interpreter(tmp_path: Path) -> None:
    write(tmp_path, {"requirements.txt": "", ".venv/bin/python": ""})
    assert load_project(str(tmp_path), None, {}).python == str(tmp_path / ".venv/bin/python")


def test_tool_paths_become_paths_under_the_checked_out_directory(tmp_path: Path) -> None:
    project = Project(root=tmp_path, display_path="services/api", python="python")
    assert project.repo_path(str(tmp_path / "app/x.py")) == "services/api/app/x.py"
    assert project.repo_path("./app/x.py") == "services/api/app/x.py"
    assert project.repo_path("/usr/lib/python3/x.py") == "/usr/lib/python3/x.py"
    at_root = Project(root=tmp_path, display_path=".", python="python")
    assert at_root.repo_path("app/x.py") == "app/x.py"


def test_an_absolute_path_inside_the_workspace_is_shown_relative_to_it(tmp_path: Path) -> None:
    service = tmp_path / "checkout" / "svc"
    service.mkdir(parents=True)
    env = {"GITHUB_WORKSPACE": str(tmp_path / "checkout")}
    assert display_path_for(str(service), env) == "svc"
    assert display_path_for(str(tmp_path / "checkout"), env) == "."
    assert display_path_for("./svc/", {}) == "svc"


def test_test_files_follow_the_projects_pytest_config(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "pyproject.toml": '[tool.pytest.ini_options]\ntestpaths = ["tests"]\n',
            "tests/test_a.py": "",
            "tests/sub/b_test.py": "",
            "tests/helpers.py": "",
            "other/test_c.py": "",
        },
    )
    project = load_project(str(tmp_path), "python", {})
    assert project.test_files() == [Path("tests/sub/b_test.py"), Path("tests/test_a.py")]


def test_coverage_floor_and_source_come_from_the_projects_config(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "pyproject.toml": (
                '[tool.coverage.run]\nsource = ["app"]\n[tool.coverage.report]\nfail_under = 85\n'
            )
        },
    )
    project = load_project(str(tmp_path), "python", {})
    assert project.coverage_fail_under() == 85
    assert project.coverage_source_configured()


def test_coveragerc_floor_is_read_too(tmp_path: Path) -> None:
    write(tmp_path, {"setup.py": "", ".coveragerc": "[report]\nfail_under = 70.5\n"})
    project = load_project(str(tmp_path), "python", {})
    assert project.coverage_fail_under() == 70.5
    assert not project.coverage_source_configured()


def test_mypy_targets_named_in_mypy_ini_are_left_to_mypy(tmp_path: Path) -> None:
    write(tmp_path, {"setup.py": "", "mypy.ini": "[mypy]\nfiles = app\n"})
    assert load_project(str(tmp_path), "python", {}).mypy_config_names_targets()
    write(tmp_path, {"mypy.ini": "[mypy]\nstrict = True\n"})
    assert not load_project(str(tmp_path), "python", {}).mypy_config_names_targets()
