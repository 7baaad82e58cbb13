"""The unit suite runs with no outside component (selftest.yml runs it on a bare GitHub runner)."""

from __future__ import annotations

import pytest

# The fixtures of tests/conftest.py that need a running component: a test using one belongs
# in tests/integration/, where `bash .ci/run` starts them.
COMPONENT_FIXTURES = frozenset(
    {"docker_cli", "base_image", "registry", "buildkit", "postgres", "fresh_database",
     "example_image", "swarm", "versions", "kubernetes"}
)  # fmt: skip


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        parameters = set(callspec.params) if callspec else set()  # a parameter, not a fixture
        used = COMPONENT_FIXTURES.intersection(getattr(item, "fixturenames", ())) - parameters
        if used and "/tests/unit/" in str(item.path):
            raise pytest.UsageError(
                f"{item.nodeid} uses {sorted(used)}: a test that needs a component goes in "
                "tests/integration/"
            )
