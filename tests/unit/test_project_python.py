"""The one rule for which interpreter runs the project's own code."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fastapi_ci.errors import InputError
from fastapi_ci.project_python import find_project_python


def make_interpreter(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_an_explicit_relative_interpreter_becomes_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_interpreter(tmp_path / "svc" / "env" / "bin" / "python")
    monkeypatch.chdir(tmp_path)
    found = find_project_python(Path("svc"), "svc/env/bin/python", search_path="")
    assert found == str(tmp_path / "svc" / "env" / "bin" / "python")
    assert os.path.isabs(found)


def test_the_projects_venv_comes_before_path(tmp_path: Path) -> None:
    venv_python = make_interpreter(tmp_path / "svc" / ".venv" / "bin" / "python")
    make_interpreter(tmp_path / "bin" / "python")
    found = find_project_python(tmp_path / "svc", None, search_path=str(tmp_path / "bin"))
    assert found == str(venv_python)


def test_python_on_path_is_the_last_resort(tmp_path: Path) -> None:
    on_path = make_interpreter(tmp_path / "bin" / "python")
    found = find_project_python(tmp_path / "svc", None, search_path=str(tmp_path / "bin"))
    assert found == str(on_path)


def test_no_interpreter_at_all_names_the_input(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="input 'python'"):
        find_project_python(tmp_path, None, search_path=str(tmp_path / "empty"))
    with pytest.raises(InputError, match="is not an executable interpreter"):
        find_project_python(tmp_path, "no-such-python", search_path=str(tmp_path / "empty"))


def write_workspace_root(root: Path, members: str = '["backend"]', exclude: str = "[]") -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(
        f"[tool.uv.workspace]\nmembers = {members}\nexclude = {exclude}\n"
    )


def test_a_uv_workspace_members_interpreter_is_the_workspace_roots_venv(tmp_path: Path) -> None:
    write_workspace_root(tmp_path / "repo", members='["backend", "libs/*"]')
    root_python = make_interpreter(tmp_path / "repo" / ".venv" / "bin" / "python")
    make_interpreter(tmp_path / "bin" / "python")
    for member in ("backend", "libs/models"):
        (tmp_path / "repo" / member).mkdir(parents=True)
        found = find_project_python(tmp_path / "repo" / member, None, str(tmp_path / "bin"))
        assert found == str(root_python)


def test_a_directory_the_workspace_excludes_does_not_get_its_venv(tmp_path: Path) -> None:
    write_workspace_root(tmp_path / "repo", members='["libs/*"]', exclude='["libs/legacy"]')
    make_interpreter(tmp_path / "repo" / ".venv" / "bin" / "python")
    on_path = make_interpreter(tmp_path / "bin" / "python")
    (tmp_path / "repo" / "libs" / "legacy").mkdir(parents=True)
    found = find_project_python(tmp_path / "repo" / "libs" / "legacy", None, str(tmp_path / "bin"))
    assert found == str(on_path)


def test_the_workspace_search_stops_at_the_repository_root(tmp_path: Path) -> None:
    write_workspace_root(tmp_path, members='["repo/backend"]')
    make_interpreter(tmp_path / ".venv" / "bin" / "python")
    on_path = make_interpreter(tmp_path / "bin" / "python")
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    (tmp_path / "repo" / "backend").mkdir()
    found = find_project_python(tmp_path / "repo" / "backend", None, str(tmp_path / "bin"))
    assert found == str(on_path)


def test_a_plain_venv_directory_is_the_projects(tmp_path: Path) -> None:
    venv_python = make_interpreter(tmp_path / "svc" / "venv" / "bin" / "python")
    make_interpreter(tmp_path / "bin" / "python")
    found = find_project_python(tmp_path / "svc", None, search_path=str(tmp_path / "bin"))
    assert found == str(venv_python)


def test_a_poetry_projects_interpreter_is_the_one_poetry_reports(tmp_path: Path) -> None:
    # A stand-in `poetry` that answers `env info --path` as Poetry does: installing Poetry
    # and letting it build an environment outside the project would cost a resolver run per
    # test session for one line of output.
    poetry_venv_python = make_interpreter(
        tmp_path / "poetry-envs" / "svc-py3.11" / "bin" / "python"
    )
    bin_dir = tmp_path / "bin"
    make_interpreter(bin_dir / "python")
    poetry = make_interpreter(bin_dir / "poetry")
    poetry.write_text(
        '#!/bin/sh\n[ "$*" = "env info --path" ] || exit 1\n'
        f'echo "{poetry_venv_python.parent.parent}"\n'
    )
    (tmp_path / "svc").mkdir()
    (tmp_path / "svc" / "pyproject.toml").write_text('[tool.poetry]\nname = "svc"\n')
    found = find_project_python(tmp_path / "svc", None, env={"PATH": f"{bin_dir}:/usr/bin:/bin"})
    assert found == str(poetry_venv_python)
    # Without Poetry installed, the search goes on to PATH.
    poetry.unlink()
    found = find_project_python(tmp_path / "svc", None, env={"PATH": str(bin_dir)})
    assert found == str(bin_dir / "python")
