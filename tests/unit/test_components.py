"""A missing component skips a test locally but fails it under CI=true."""

from __future__ import annotations

import pytest

from tests.components import component_missing


def test_missing_component_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="PostgreSQL is not available: refused"):
        component_missing("PostgreSQL", "refused")


def test_missing_component_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"bash \.ci/services\.sh"):
        component_missing("registry", "no answer")
