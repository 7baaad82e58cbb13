"""schema-guard against the real oasdiff, on hundreds of (base, revision) pairs.

The pairs are real documents with one mutation each (tests/unit/schema_guard/mutations.py).
Both tools judge each pair; they must agree on the breaking verdict and on the rule ids of
every change either of them reports as a warning or an error (info-only rules, such as
oasdiff's tag or operation-id changes, are not part of a verdict and are not compared).
A rule id on which they disagree fails the test unless docs/actions/schema-guard.md lists it in its
table of deliberate differences from oasdiff, with the reason.

oasdiff is built by .ci/oasdiff.sh (`FASTAPI_CI_OASDIFF`); runs go in parallel threads.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fastapi_ci.openapi_document import load_document
from fastapi_ci.schema_guard import compare_documents
from tests.support.components import REPO_ROOT, component_missing
from tests.unit.schema_guard.conftest import FIXTURES, app_spec
from tests.unit.schema_guard.mutations import Pair, mutated_pairs, operation_slices, write_json

PAIRS = 330
PAGE_NAME = "docs/actions/schema-guard.md"  # its table of deliberate differences
SCHEMA_GUARD_PAGE = REPO_ROOT / PAGE_NAME
BENCH_DIR = REPO_ROOT.parent / "shared" / "bench" / "openapi"
OASDIFF_LEVELS = {3: "error", 2: "warning", 1: "info"}
LEVEL_RANK = {"error": 3, "warning": 2, "info": 1}
_POLICY_SECTION = re.compile(
    r"<!-- oasdiff-differences -->\n(.*?)<!-- /oasdiff-differences -->", re.DOTALL
)
_POLICY_ROW = re.compile(r"^\| `([a-z0-9-]+)` \| (\w+|—) \| (\w+|—) \|")


@dataclass(frozen=True)
class Verdicts:
    """What both tools said about one pair: rule id -> most severe level, per tool."""

    pair: str
    ours: dict[str, str]
    theirs: dict[str, str]

    def disagreements(self) -> set[tuple[str, str | None, str | None]]:
        """(rule id, our level, oasdiff's level) for each disagreeing rule id."""
        return {
            (rule, self.ours.get(rule), self.theirs.get(rule)) for rule in self.disagreeing_rules()
        }

    def disagreeing_rules(self) -> set[str]:
        """Rule ids reported at warning or error by one tool, and not at that level by the other."""
        relevant = {
            rule for rule, level in (*self.ours.items(), *self.theirs.items()) if level != "info"
        }
        return {rule for rule in relevant if self.ours.get(rule) != self.theirs.get(rule)}

    def same_verdict(self) -> bool:
        """Both breaking, or both not."""
        return ("error" in self.ours.values()) == ("error" in self.theirs.values())


def oasdiff_binary() -> str:
    binary = os.environ.get("FASTAPI_CI_OASDIFF", "")
    if not binary or not Path(binary).is_file():
        component_missing(
            "oasdiff", f"FASTAPI_CI_OASDIFF={binary!r} is not a file (.ci/oasdiff.sh)"
        )
    return binary


def source_documents() -> dict[str, dict[str, Any]]:
    """Our fixture apps' exports, the petstore pair, and slices of the big bench specs."""
    sources = {
        "shop_v1": app_spec("shop_v1"),
        "shop_v2": app_spec("shop_v2"),
        "global_security": app_spec("global_security", "app_after"),
        "renamed_models": app_spec("renamed_models", "app_after"),
    }
    for name in ("petstore_v1", "petstore_v2"):
        sources[name] = load_document(FIXTURES / f"{name}.yaml", input_name="base")
    for vendor in ("stripe", "openai"):
        path = BENCH_DIR / f"{vendor}.base.json"
        if not path.exists():
            component_missing("benchmark OpenAPI specs", f"{path} not found")
        big = load_document(path, input_name="base")
        slices = operation_slices(big, operations_per_slice=6, max_components=25, slices=4)
        for index, sliced in enumerate(slices):
            sources[f"{vendor}[{index}]"] = sliced
    return sources


def _levels(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    levels: dict[str, str] = {}
    for rule, level in pairs:
        if LEVEL_RANK[level] > LEVEL_RANK.get(levels.get(rule, "info"), 0) or rule not in levels:
            levels[rule] = level
    return levels


def judge(pair: Pair, binary: str, scratch: Path) -> Verdicts:
    """Run both tools on one pair."""
    slug = re.sub(r"\W+", "-", pair.name)[:60]
    base = write_json(scratch / f"{slug}.base.json", pair.base)
    revision = write_json(scratch / f"{slug}.revision.json", pair.revision)
    completed = subprocess.run(
        # schema-guard merges allOf (pydantic's inheritance) before comparing; so must oasdiff,
        # or it lowers every change under an allOf to a warning.
        [binary, "changelog", str(base), str(revision), "--format", "json", "--flatten-allof"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, f"{pair.name}: oasdiff failed: {completed.stderr}"
    theirs = _levels(
        (item["id"], OASDIFF_LEVELS[item["level"]]) for item in json.loads(completed.stdout or "[]")
    )
    # As `fastapi-ci schema-diff` judges it (semantics auto: FastAPI's for FastAPI exports).
    report, _ = compare_documents(
        pair.base, pair.revision, inputs=("base", "revision"), semantics="auto"
    )
    ours = _levels((change.id, change.level) for change in report.changes)
    return Verdicts(pair.name, ours, theirs)


def judge_all(count: int) -> list[Verdicts]:
    binary = oasdiff_binary()
    pairs = list(mutated_pairs(source_documents(), count))
    with (
        tempfile.TemporaryDirectory(prefix="schema-guard-differential-") as scratch,
        ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool,
    ):
        return list(pool.map(lambda pair: judge(pair, binary, Path(scratch)), pairs))


def listed_differences(page: str) -> set[tuple[str, str | None, str | None]]:
    """(rule id, our level, oasdiff's level) rows of schema-guard's page's table of deliberate
    differences from oasdiff; a dash is "not reported"."""
    section = _POLICY_SECTION.search(page)
    assert section, f"{PAGE_NAME} has no <!-- oasdiff-differences --> table"
    rows = set()
    for line in section.group(1).splitlines():
        if match := _POLICY_ROW.match(line):
            rule, ours, theirs = match.groups()
            rows.add((rule, None if ours == "—" else ours, None if theirs == "—" else theirs))
    return rows


@pytest.fixture(scope="module")
def verdicts() -> list[Verdicts]:
    return judge_all(PAIRS)


def test_hundreds_of_pairs_are_compared(verdicts: list[Verdicts]) -> None:
    assert len(verdicts) >= 300
    # The mutations are real changes: most pairs must have something to compare.
    assert sum(1 for v in verdicts if v.ours or v.theirs) >= 0.9 * len(verdicts)


def test_every_disagreement_with_oasdiff_is_a_listed_policy_difference(
    verdicts: list[Verdicts],
) -> None:
    listed = listed_differences(SCHEMA_GUARD_PAGE.read_text(encoding="utf-8"))
    unlisted = [
        f"{v.pair}: {rule} ours={ours} oasdiff={theirs}"
        for v in verdicts
        for rule, ours, theirs in sorted(v.disagreements(), key=str)
        if (rule, ours, theirs) not in listed
    ]
    assert not unlisted, f"disagreements with oasdiff not listed in {PAGE_NAME}:\n" + "\n".join(
        unlisted
    )


def test_each_listed_difference_is_still_seen(verdicts: list[Verdicts]) -> None:
    # A row for a difference that no longer happens is stale documentation.
    listed = listed_differences(SCHEMA_GUARD_PAGE.read_text(encoding="utf-8"))
    seen = {d for v in verdicts for d in v.disagreements()}
    assert not listed - seen, f"{PAGE_NAME} lists differences that no pair shows: {listed - seen}"


def agreement(verdicts: list[Verdicts]) -> tuple[float, float]:
    """Share of pairs with the same verdict, and with no disagreeing rule id at all."""
    same_verdict = sum(1 for v in verdicts if v.same_verdict()) / len(verdicts)
    same_rules = sum(1 for v in verdicts if not v.disagreeing_rules()) / len(verdicts)
    return same_verdict, same_rules


if __name__ == "__main__":  # `uv run python -m tests.unit.schema_guard.test_differential_oasdiff`
    import collections

    results = judge_all(PAIRS)
    verdict_share, rule_share = agreement(results)
    print(f"{len(results)} pairs: same verdict {verdict_share:.1%}, same rule ids {rule_share:.1%}")
    counts = collections.Counter(
        (rule, v.ours.get(rule), v.theirs.get(rule))
        for v in results
        for rule in v.disagreeing_rules()
    )
    for (rule, ours, theirs), n in counts.most_common():
        print(f"{n:4d}  {rule}  ours={ours} oasdiff={theirs}")
