"""A scratch git repository for the release tests: commit, bump the version, run .ci/release.py."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.support.components import REPO_ROOT

RELEASE = REPO_ROOT / ".ci" / "release.py"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def set_version(repo: Path, version: str) -> str:
    pyproject = repo / "pyproject.toml"
    pyproject.write_text(
        re.sub(r'^version = ".*"$', f'version = "{version}"', pyproject.read_text(), flags=re.M)
    )
    return commit_all(repo, f"bump to {version}")
