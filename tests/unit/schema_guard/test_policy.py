"""Policy controls: a severity-levels file and an ignore file keyed by change fingerprints."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.unit.schema_guard.conftest import run

ENV_PREFIX = "FASTAPI_CI_SCHEMA_DIFF_"


def _spec(required: bool) -> dict[str, Any]:
    """`GET /things?q=`, with `q` required in the revision: a breaking change."""
    parameter = {"name": "q", "in": "query", "required": required, "schema": {"type": "string"}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/things": {
                "get": {"parameters": [parameter], "responses": {"200": {"description": "ok"}}}
            }
        },
    }


@pytest.fixture
def pair(tmp_path: Path) -> list[str]:
    (tmp_path / "base.json").write_text(json.dumps(_spec(required=False)))
    (tmp_path / "revision.json").write_text(json.dumps(_spec(required=True)))
    return [str(tmp_path / "base.json"), str(tmp_path / "revision.json")]


def _fingerprint(pair: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert run(["schema-diff", *pair, "--format", "json"]) == 1
    [change] = json.loads(capsys.readouterr().out)["changes"]
    assert change["id"] == "request-parameter-became-required"
    return str(change["fingerprint"])


def test_fingerprint_is_stable_across_runs(
    pair: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert _fingerprint(pair, capsys) == _fingerprint(pair, capsys)


def test_severity_levels_file_relevels_a_rule(tmp_path: Path, pair: list[str]) -> None:
    levels = tmp_path / "levels.txt"
    levels.write_text("# our clients always send q\nrequest-parameter-became-required warning\n")
    assert run(["schema-diff", *pair, "--severity-levels", str(levels)]) == 0
    assert (
        run(["schema-diff", *pair, "--severity-levels", str(levels), "--fail-on", "warning"]) == 1
    )


def test_severity_level_none_drops_the_rule_and_oasdiff_spelling_is_read(
    tmp_path: Path, pair: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    levels = tmp_path / "levels.txt"
    levels.write_text("request-parameter-became-required NONE\nendpoint-added ERR\n")
    assert run(["schema-diff", *pair, "--severity-levels", str(levels), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["changes"] == []


def test_ignored_change_no_longer_fails_the_check_through_the_environment(
    tmp_path: Path, pair: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    fingerprint = _fingerprint(pair, capsys)
    ignore = tmp_path / "ignore.yaml"
    ignore.write_text(f"- fingerprint: {fingerprint}\n  reason: all clients send q\n")
    assert run(["schema-diff", *pair], env={ENV_PREFIX + "IGNORE_FILE": str(ignore)}) == 0
    assert "1 changes ignored on purpose" in capsys.readouterr().out


def test_expired_ignore_fails_the_check(
    tmp_path: Path, pair: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    fingerprint = _fingerprint(pair, capsys)
    yesterday = date.today() - timedelta(days=1)
    ignore = tmp_path / "ignore.yaml"
    ignore.write_text(
        f"- fingerprint: {fingerprint}\n  reason: until the app ships\n  expires: {yesterday}\n"
    )
    levels = tmp_path / "levels.txt"
    # Even with the change itself made harmless, the expired entry closes the gate.
    levels.write_text("request-parameter-became-required info\n")
    argv = ["schema-diff", *pair, "--ignore-file", str(ignore), "--severity-levels", str(levels)]
    assert run(argv) == 1
    assert f"expired on {yesterday}" in capsys.readouterr().out


def test_ignore_not_yet_expired_hides_the_change(
    tmp_path: Path, pair: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    fingerprint = _fingerprint(pair, capsys)
    ignore = tmp_path / "ignore.yaml"
    today = date.today()
    ignore.write_text(
        f"- fingerprint: {fingerprint}\n  reason: until it ships\n  expires: '{today}'\n"
    )
    assert run(["schema-diff", *pair, "--ignore-file", str(ignore)]) == 0


@pytest.mark.parametrize(
    ("flag", "content", "expected"),
    [
        ("--severity-levels", "request-parameter-became-required fatal\n", "LEVEL one of"),
        ("--ignore-file", "- fingerprint: abc\n", "`reason` is required"),
        ("--ignore-file", "- fingerprint: abc\n  reason: x\n  expires: someday\n", "YYYY-MM-DD"),
        ("--ignore-file", "{not: a list}\n", "expected a list"),
    ],
)
def test_bad_policy_file_exits_2_naming_the_input(
    tmp_path: Path,
    pair: list[str],
    capsys: pytest.CaptureFixture[str],
    flag: str,
    content: str,
    expected: str,
) -> None:
    policy = tmp_path / "policy"
    policy.write_text(content)
    assert run(["schema-diff", *pair, flag, str(policy)]) == 2
    err = capsys.readouterr().err
    [line] = [each for each in err.splitlines() if not each.startswith(("hint: ", "docs: "))]
    assert f"input '{flag.removeprefix('--')}'" in line
    assert expected in line
