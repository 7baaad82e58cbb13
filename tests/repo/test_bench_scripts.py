"""Every benchmark script still imports and parses its arguments (one broke unnoticed once)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.components import REPO_ROOT

BENCH_SCRIPTS = sorted((REPO_ROOT / "tests" / "bench").glob("bench_*.py"))


def test_there_are_bench_scripts() -> None:
    assert len(BENCH_SCRIPTS) >= 6


@pytest.mark.parametrize("script", BENCH_SCRIPTS, ids=lambda p: p.name)
def test_the_bench_script_imports_and_prints_its_usage(script: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(script), "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout
