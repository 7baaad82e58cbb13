"""What ruff must never check, whatever the project's `exclude` says.

ruff's default `exclude` names the caches and environments (.pytest_cache, .mypy_cache,
.venv, ...), but a project that sets `exclude` (not `extend-exclude`) REPLACES that list,
and from then on ruff checks whatever a tool left in a cache directory: a pytest cache's
README.md (ruff formats Markdown's code blocks), a virtualenv's site-packages. The gate
adds those directories to the project's own `extend-exclude`, as a `--config` override
(every ruff since 0.2 takes one; `ruff format --extend-exclude` is not in every version).
An override replaces the setting, so the project's own patterns are carried over: names
as they are, paths made absolute against the config file's directory (ruff resolves an
override against the working directory, the project root, which may be below the config).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fastapi_ci.project_python import read_pyproject

# Directories tools write and nobody formats: test, type and lint caches, environments.
NEVER_CHECKED = (
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".hypothesis",
    "__pycache__",
    ".tox",
    ".nox",
    ".venv",
    "venv",
    "site-packages",
)


def _ruff_settings(directory: Path) -> dict[str, Any] | None:
    """The ruff settings a directory's config file holds, in ruff's order of precedence
    (.ruff.toml, ruff.toml, pyproject.toml's [tool.ruff]); None when it has none."""
    for name in (".ruff.toml", "ruff.toml"):
        try:
            return tomllib.loads((directory / name).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue
    settings = read_pyproject(directory).get("tool", {}).get("ruff")
    return settings if isinstance(settings, dict) else None


def _projects_extend_exclude(project_root: Path) -> list[str]:
    """The project's own `extend-exclude`, from the config ruff would use for its root."""
    root = project_root.absolute()
    for directory in (root, *root.parents):
        settings = _ruff_settings(directory)
        if settings is None:
            continue
        patterns = settings.get("extend-exclude", [])
        if not isinstance(patterns, list):
            return []
        return [
            str(pattern)
            if "/" not in str(pattern) or directory == root
            else str(directory / str(pattern))
            for pattern in patterns
        ]
    return []


def exclude_override(project_root: Path, never_checked: Sequence[str] = NEVER_CHECKED) -> list[str]:
    """ruff arguments that add `never_checked` to the project's `extend-exclude`."""
    patterns = [*_projects_extend_exclude(project_root), *never_checked]
    # A TOML array of basic strings: JSON's string escaping is TOML's.
    return ["--config", f"extend-exclude = [{', '.join(json.dumps(p) for p in patterns)}]"]
