"""The README documents every action, with tables generated from its action.yml."""

from __future__ import annotations

import subprocess
import sys

from tests.components import REPO_ROOT


def test_every_action_has_a_readme_section_with_generated_tables() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    for action_file in sorted((REPO_ROOT / "actions").glob("*/action.yml")):
        name = action_file.parent.name
        assert f"\n## {name}\n" in readme, f"README.md has no section for {name}"
        assert f"<!-- action-tables: {name} -->" in readme, f"no generated tables for {name}"


def test_readme_tables_match_the_action_files() -> None:
    check = subprocess.run(
        [sys.executable, str(REPO_ROOT / ".ci" / "readme_tables.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
