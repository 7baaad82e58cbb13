"""Every template the package reads (step summaries, init's files) ships in the wheel.

The summaries are package data: a template left out of the wheel breaks an installed action
only when it writes its summary, after the work is done.
"""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

from fastapi_ci.step_summary import TEMPLATES
from tests.support.components import REPO_ROOT, component_missing

PACKAGE = REPO_ROOT / "scripts" / "fastapi_ci"
# Every action that writes a step summary renders it from its own package's templates.
SUMMARY_PACKAGES = (
    "build_push",
    "migrate_once",
    "quality_gate",
    "rollout",
    "schema_guard",
    "verify",
)


def templates_in_the_tree() -> set[str]:
    return {
        path.relative_to(PACKAGE.parent).as_posix()
        for path in PACKAGE.rglob(f"{TEMPLATES}/*")
        if path.is_file()
    }


def test_the_wheel_contains_every_template(tmp_path: Path) -> None:
    uv = shutil.which("uv")
    if uv is None:
        component_missing("uv", "not on PATH")
    subprocess.run(
        [uv, "build", "--wheel", "--quiet", "--out-dir", str(tmp_path)],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = set(archive.namelist())
    expected = templates_in_the_tree()
    assert len(expected) >= len(SUMMARY_PACKAGES)  # the tree was read: not vacuously true
    assert expected - shipped == set()


def test_every_action_with_a_summary_has_its_templates_in_its_package() -> None:
    found = templates_in_the_tree()
    for name in SUMMARY_PACKAGES:
        assert any(path.startswith(f"fastapi_ci/{name}/{TEMPLATES}/") for path in found), name
