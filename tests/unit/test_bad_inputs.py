"""Bad input keeps the contract: exit 2, one `::error::` line naming the input, no traceback."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from fastapi_ci.action_io import main_for
from fastapi_ci.cli import ACTIONS


def run_cli(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    """The CLI in process, as on a runner; (exit code, everything it printed)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main_for(ACTIONS, "test", args, env={"GITHUB_ACTIONS": "true", **(env or {})})
    return code, out.getvalue() + err.getvalue()


def assert_bad_input(code: int, printed: str, name: str) -> None:
    errors = [line for line in printed.splitlines() if line.startswith("::error")]
    assert code == 2, printed
    assert len(errors) == 1, printed
    assert f"input '{name}'" in errors[0], printed
    assert "Traceback" not in printed


@pytest.mark.parametrize("sha", ["zzz", "abc", "g" * 40, "1234567\n"])
def test_build_push_sha_must_be_a_commit_hash(sha: str) -> None:
    code, printed = run_cli(["build-push", "--image", "127.0.0.1:5000/app", "--sha", sha])
    assert_bad_input(code, printed, "sha")


def test_a_missing_alembic_config_is_reported_under_its_own_name(tmp_path: Path) -> None:
    code, printed = run_cli(
        ["migration-lint", "--alembic-dir", str(tmp_path), "--alembic-config", "nope.ini"]
    )
    assert_bad_input(code, printed, "alembic-config")
