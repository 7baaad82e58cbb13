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
