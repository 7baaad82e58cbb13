"""The tests mirror the package; shared test code lives in tests/support/ and conftest.py."""

from __future__ import annotations

from tests.support.components import REPO_ROOT

TESTS = REPO_ROOT / "tests"
PACKAGE = REPO_ROOT / "scripts" / "fastapi_ci"


def test_every_unit_test_directory_names_a_package_of_fastapi_ci() -> None:
    unit = TESTS / "unit"
    directories = [d for d in unit.rglob("*") if d.is_dir() and d.name != "__pycache__"]
    assert directories, "no test directory found"
    strays = [
        str(d.relative_to(TESTS))
        for d in directories
        if not (PACKAGE / d.relative_to(unit) / "__init__.py").is_file()
    ]
    assert not strays, f"tests/unit/<path> must test scripts/fastapi_ci/<path>: {strays}"


def test_only_conftest_lives_beside_the_suites_at_the_top_of_tests() -> None:
    modules = sorted(p.name for p in TESTS.glob("*.py"))
    assert modules == ["__init__.py", "conftest.py"], f"shared code: tests/support/: {modules}"
