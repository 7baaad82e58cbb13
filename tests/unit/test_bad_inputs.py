"""Bad input keeps the contract: exit 2, one `::error::` line naming the input, no traceback."""

from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import threading
import time
from pathlib import Path

import pytest

from fastapi_ci.action_io import main_for
from fastapi_ci.cli import ACTIONS
from fastapi_ci.input_files import MAX_INPUT_FILE_BYTES


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


# --- hostile input files ----------------------------------------------------------------------

PETSTORE = Path(__file__).parents[1] / "fixtures" / "schema_apps" / "petstore_v1.yaml"

# 656 bytes of YAML whose aliases expand to 9**9 strings: a naive walk takes minutes and GBs.
ALIAS_BOMB = "\n".join(
    ["a: &a [x, x, x, x, x, x, x, x, x]"]
    + [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]" for i in range(8)]
    + ["openapi: 3.1.0", "paths: {p: *i}", ""]
)


def hostile_file(kind: str, directory: Path) -> Path:
    """A path of the given kind: the file an input names."""
    path = directory / f"hostile-{kind}"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    elif kind == "non-utf8":
        path.write_bytes(b'{"openapi": "3.1.0", "paths": {}, "x": "\xff\xfe"}')
    elif kind == "alias-bomb":
        path.write_text(ALIAS_BOMB)
    elif kind == "deep-json":
        path.write_text(
            '{"openapi": "3.1.0", "paths": {}, "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
        )
    elif kind == "deep-yaml":
        path.write_text("openapi: 3.1.0\npaths: {}\nx: " + "[" * 5_000 + "]" * 5_000 + "\n")
    elif kind == "too-large":
        with path.open("wb") as handle:
            handle.truncate(MAX_INPUT_FILE_BYTES + 1)  # sparse: no disk used
    return path


def run_cli_bounded(args: list[str], seconds: float = 10) -> tuple[int, str]:
    """run_cli, failing (not hanging) when it does not return in time (a FIFO open blocks)."""
    answer: list[tuple[int, str]] = []
    worker = threading.Thread(target=lambda: answer.append(run_cli(args)), daemon=True)
    started = time.monotonic()
    worker.start()
    worker.join(seconds)
    assert answer, f"still running after {seconds}s: {args}"
    print(f"{args[0]}: {time.monotonic() - started:.2f}s")
    return answer[0]


@pytest.mark.parametrize(
    "kind", ["fifo", "directory", "non-utf8", "alias-bomb", "deep-json", "deep-yaml", "too-large"]
)
def test_a_hostile_input_file_is_exit_2_fast(kind: str, tmp_path: Path) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    path = hostile_file(kind, tmp_path)
    code, printed = run_cli_bounded(["schema-diff", str(path), str(PETSTORE)])
    assert_bad_input(code, printed, "base")
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 200, f"{kind}: memory grew by {grown_mib:.0f} MiB"


@pytest.mark.parametrize("kind", ["fifo", "directory", "parent-is-a-file"])
def test_an_unwritable_report_path_is_exit_2_before_any_work(kind: str, tmp_path: Path) -> None:
    if kind == "parent-is-a-file":
        (tmp_path / "file").write_text("")
        report = tmp_path / "file" / "report.json"
    else:
        report = hostile_file(kind, tmp_path)
    # The base does not exist: had the work started, the error would name 'base'.
    code, printed = run_cli_bounded(
        ["schema-diff", str(tmp_path / "missing.json"), str(PETSTORE), "--report-path", str(report)]
    )
    assert_bad_input(code, printed, "report-path")


def test_a_report_path_under_missing_directories_is_created(tmp_path: Path) -> None:
    report = tmp_path / "new" / "dirs" / "report.json"
    code, printed = run_cli(
        ["schema-diff", str(PETSTORE), str(PETSTORE), "--report-path", str(report)]
    )
    assert code == 0, printed
    assert json.loads(report.read_text())["breaking"] is False
