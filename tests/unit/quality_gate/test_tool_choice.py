"""Which copy of ruff runs, what ruff never checks, and bandit's severity threshold."""

from __future__ import annotations

import sys
from pathlib import Path

from fastapi_ci.quality_gate import parsers, ruff_config, tools

RECORDINGS = Path(__file__).resolve().parents[2] / "fixtures" / "quality_gate"


def test_the_projects_ruff_runs_when_its_environment_has_one() -> None:
    chosen = tools.tools_for("/p/.venv/bin/python", {"ruff": "0.15.0", "mypy": "2.4.1"})
    assert chosen["ruff"].command == ("/p/.venv/bin/python", "-m", "ruff")
    assert chosen["ruff"].label == "ruff 0.15.0 (the project's environment)"
    assert chosen["format"] == chosen["ruff"]
    assert chosen["mypy"].label == "mypy 2.4.1 (the project's environment)"
    assert chosen["bandit"].command[0] == sys.executable  # always ours


def test_fastapi_cis_ruff_runs_when_the_project_has_none() -> None:
    chosen = tools.tools_for("/usr/bin/python3", {})
    assert chosen["ruff"].command == (sys.executable, "-m", "ruff")
    assert chosen["ruff"].label.endswith("(fastapi-ci)")
    assert chosen["audit"].command[-1] == "pip_audit"


def test_caches_are_added_to_the_projects_own_extend_exclude(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.ruff]\nexclude = ["alembic"]\nextend-exclude = ["legacy", "gen/api"]\n'
    )
    (tmp_path / "backend").mkdir()
    override = ruff_config.exclude_override(tmp_path / "backend", (".pytest_cache",))
    # Paths of a config above the project are made absolute; bare names stay names.
    assert override == [
        "--config",
        f'extend-exclude = ["legacy", "{tmp_path / "gen/api"}", ".pytest_cache"]',
    ]
    at_root = ruff_config.exclude_override(tmp_path, (".pytest_cache",))
    assert at_root[1] == 'extend-exclude = ["legacy", "gen/api", ".pytest_cache"]'


def test_a_ruff_toml_wins_over_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.ruff]\nextend-exclude = ["a"]\n')
    (tmp_path / "ruff.toml").write_text('extend-exclude = ["b"]\n')
    assert ruff_config.exclude_override(tmp_path, ())[1] == 'extend-exclude = ["b"]'


def test_bandit_findings_below_the_threshold_are_warnings() -> None:
    text = (RECORDINGS / "bandit.json").read_text()
    levels = {
        threshold: [a.level for a in parsers.parse_bandit(text, str, threshold)]
        for threshold in ("low", "medium", "high")
    }
    # The recording: B404 (low), B602 (high).
    assert levels == {
        "low": ["error", "error"],
        "medium": ["warning", "error"],
        "high": ["warning", "error"],
    }
