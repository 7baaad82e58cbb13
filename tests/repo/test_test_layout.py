"""The tests mirror the package; shared test code lives in tests/support/ and conftest.py."""

from __future__ import annotations

import ast
from pathlib import Path

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


def imported_test_modules(path: Path) -> list[str]:
    """The test modules (test_*) that the file at PATH imports."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]
    # `from tests.integration import test_x` names the test module as an imported name.
    names += [
        f"{n.module}.{a.name}"
        for n in ast.walk(tree)
        if isinstance(n, ast.ImportFrom) and n.module
        for a in n.names
    ]
    names += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    return [n for n in names if n.startswith("tests.") and n.rsplit(".", 1)[-1].startswith("test_")]


def test_no_test_module_imports_another() -> None:
    offenders = {
        str(path.relative_to(TESTS)): imported
        for path in TESTS.rglob("*.py")
        if "fixtures" not in path.relative_to(TESTS).parts
        and (imported := imported_test_modules(path))
    }
    assert not offenders, f"share helpers through tests/support/, not test modules: {offenders}"
