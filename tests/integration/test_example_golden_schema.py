"""This repo guards its own example service's golden OpenAPI file with schema-guard."""

from __future__ import annotations

from pathlib import Path

import pytest

from fastapi_ci.action_io import main_for
from fastapi_ci.cli import ACTIONS
from tests.support.components import EXAMPLE_SERVICE, REPO_ROOT


def test_example_service_matches_its_committed_golden_schema(
    example_python: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "schema-guard",
        "--app", "app.main:app",
        "--app-dir", str(EXAMPLE_SERVICE),
        "--golden", str(EXAMPLE_SERVICE / "openapi.json"),
        "--python", str(example_python),
        "--fail-on", "warning",
    ]  # fmt: skip
    exit_code = main_for(ACTIONS, "test", argv, {"PATH": "/usr/bin:/bin"})
    out = capsys.readouterr().out
    assert exit_code == 0, out
    assert "No changes to the API" in out
    assert "out of date" not in out, "regenerate with example-service/scripts/export_openapi.py"


def test_golden_schema_is_in_the_deterministic_format(example_python: Path, tmp_path: Path) -> None:
    exported = tmp_path / "openapi.json"
    argv = [
        "schema-export", "--app", "app.main:app", "--app-dir", str(EXAMPLE_SERVICE),
        "--python", str(example_python), "--output", str(exported),
    ]  # fmt: skip
    assert main_for(ACTIONS, "test", argv, {}) == 0
    golden = REPO_ROOT / "example-service" / "openapi.json"
    assert exported.read_bytes() == golden.read_bytes()
