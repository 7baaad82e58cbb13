"""Fixtures for the schema-guard tests: OpenAPI documents generated from real FastAPI apps."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest

from fastapi_ci.action_io import main_for
from fastapi_ci.cli import ACTIONS
from fastapi_ci.schema_guard.diff import diff_documents
from fastapi_ci.schema_guard.report import Change

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "schema_apps"
APPS_PACKAGE = "tests.fixtures.schema_apps"


def app_spec(module: str, attribute: str = "app") -> dict[str, Any]:
    """The OpenAPI document of a fixture app, as FastAPI generates it."""
    app = getattr(importlib.import_module(f"{APPS_PACKAGE}.{module}"), attribute)
    spec: dict[str, Any] = app.openapi()
    return spec


def find_change(changes: list[Change], rule: str, operation: str | None, location: str) -> Change:
    """The one change with this rule, operation and location; fails listing all if absent."""
    matches = [
        c for c in changes if c.id == rule and c.operation == operation and c.location == location
    ]
    assert len(matches) == 1, "\n".join(
        [f"expected one {rule} at {operation} {location}, found {len(matches)} among:"]
        + [f"  {c.id} | {c.operation} | {c.location}" for c in changes]
    )
    return matches[0]


@pytest.fixture(scope="session")
def shop_changes() -> list[Change]:
    """The changes from the shop app v1 to v2 (tests/fixtures/schema_apps/shop_v*.py)."""
    return diff_documents(app_spec("shop_v1"), app_spec("shop_v2"))


def run(argv: list[str], env: dict[str, str] | None = None) -> int:
    """`fastapi-ci ARGV` in-process, as the CLI runs it, with only ENV as its environment."""
    return main_for(ACTIONS, "test", argv, env or {})
