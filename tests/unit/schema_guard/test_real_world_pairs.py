"""The engine on the large real-world pairs of the benchmark (Stripe 3.0, OpenAI 3.1)."""

from __future__ import annotations

import collections

import pytest

from fastapi_ci.openapi_document import load_document
from fastapi_ci.schema_guard.diff import diff_documents
from tests.support.components import REPO_ROOT, component_missing

# CI clones the repository with shared/ beside it.
BENCH_DIR = REPO_ROOT.parent / "shared" / "bench" / "openapi"


@pytest.mark.parametrize(
    ("pair", "endpoints_added"),
    [("stripe", 22), ("openai", 7)],  # the README of the bench directory says so
)
def test_real_world_pair_yields_a_plausible_report(pair: str, endpoints_added: int) -> None:
    base_path = BENCH_DIR / f"{pair}.base.json"
    if not base_path.exists():
        component_missing("benchmark OpenAPI pairs", f"not found in {BENCH_DIR}")
    base = load_document(base_path, input_name="base")
    revision = load_document(BENCH_DIR / f"{pair}.revision.json", input_name="revision")
    changes = diff_documents(base, revision)
    counts = collections.Counter(change.id for change in changes)
    assert counts["endpoint-added"] == endpoints_added
    # Hundreds of real changes, each reported once (not once per operation reaching it).
    assert 100 <= len(changes) <= 2000
    assert any(change.level == "error" for change in changes)
    assert len({(c.id, c.operation, c.location, c.message) for c in changes}) == len(changes)
