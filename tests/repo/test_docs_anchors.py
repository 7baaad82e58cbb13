"""Every docs anchor an error names (`docs="page#anchor"`) is a heading of the page's file.

Anchors are read from the source (every `docs=` keyword given a string), so a new error's
anchor is checked the day it is written; slugs follow GitHub's rule for headings.
"""

from __future__ import annotations

import ast
import io
import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest

from fastapi_ci.action_io import Action, ActionInputs, ActionResult, Console, execute
from fastapi_ci.errors import DOCS_FILES, CheckFailed, InputError, docs_link
from tests.support.components import REPO_ROOT

_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation and symbols dropped, each
    space a hyphen (github-slugger's rule; link targets are not part of the text)."""
    text = _LINK.sub(r"\1", heading).lower()
    kept = (
        ch for ch in text if ch in "-_ " or ch.isalnum() or unicodedata.category(ch).startswith("M")
    )
    return "".join(kept).replace(" ", "-")


def heading_anchors(markdown: str) -> set[str]:
    """Every heading's anchor, outside fenced code, with GitHub's -1, -2 for repeats."""
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    in_fence = False
    for line in markdown.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        matched = None if in_fence else _HEADING.match(line)
        if matched:
            slug = github_slug(matched.group(1))
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def docs_anchors_in_source() -> Iterator[tuple[str, str]]:
    """(where, `page#anchor`) for every `docs="..."` keyword under scripts/."""
    for path in sorted((REPO_ROOT / "scripts").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.keyword) and node.arg == "docs":
                if isinstance(node.value, ast.Name) and node.value.id == "docs":
                    continue  # passed through (errors.py)
                where = f"{path.relative_to(REPO_ROOT)}:{node.value.lineno}"
                assert isinstance(node.value, ast.Constant), f"{where}: docs= must be a literal"
                yield where, str(node.value.value)


def test_github_slugs_drop_punctuation_and_keep_hyphens() -> None:
    assert github_slug("Start here: `fastapi-ci init`") == "start-here-fastapi-ci-init"
    assert github_slug("Versions: why @v1 runs the actions of v1") == (
        "versions-why-v1-runs-the-actions-of-v1"
    )
    assert github_slug("ci.yml") == "ciyml"
    assert heading_anchors("## a\n```\n# not a heading\n```\n## a\n") == {"a", "a-1"}


def test_every_docs_anchor_names_an_existing_heading() -> None:
    anchors = list(docs_anchors_in_source())
    assert len(anchors) >= 10  # the errors link their docs: a shrinking list is a bug
    broken = []
    for where, docs in anchors:
        page, _, anchor = docs.partition("#")
        if page not in DOCS_FILES:
            broken.append(f"{where}: no docs page {page!r} (one of {sorted(DOCS_FILES)})")
        elif not anchor or anchor not in heading_anchors(
            (REPO_ROOT / DOCS_FILES[page]).read_text(encoding="utf-8")
        ):
            broken.append(f"{where}: {DOCS_FILES[page]} has no heading #{anchor}")
    assert not broken, "\n".join(broken)


def test_a_docs_link_points_at_the_actions_own_version_when_the_runner_names_it() -> None:
    env = {"GITHUB_ACTION_REPOSITORY": "acme/fastapi-ci", "GITHUB_ACTION_REF": "v1.2.0"}
    assert docs_link("rollout#rollout", env) == (
        f"https://github.com/acme/fastapi-ci/blob/v1.2.0/{DOCS_FILES['rollout']}#rollout"
    )
    # Empty in a composite action's run: steps (actions/runner#2473): a path, not a guess.
    assert docs_link("rollout#rollout", {"GITHUB_ACTION_REPOSITORY": ""}) == (
        f"{DOCS_FILES['rollout']}#rollout"
    )


class _Inputs(ActionInputs):
    fail: str = "check"


def _fail(inputs: _Inputs, _console: Console) -> ActionResult:
    if inputs.fail == "input":
        raise InputError("fail", "is wrong", why="a reason", docs="verify#verify")
    raise CheckFailed("the gate is closed", why="a reason", fix="a fix", docs="rollout#rollout")


@pytest.mark.parametrize(("fail", "code"), [("check", 1), ("input", 2)])
def test_the_step_summary_says_why_and_links_the_docs(fail: str, code: int, tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_ACTION_REPOSITORY": "acme/fastapi-ci",
        "GITHUB_ACTION_REF": "v1",
    }
    out = io.StringIO()
    action = Action(name="t", help="", inputs=_Inputs, run=_fail)
    assert execute(action, {"fail": fail}, Console(env=env, stdout=out, stderr=out)) == code
    written = summary.read_text()
    assert "Why: a reason" in written
    assert "](https://github.com/acme/fastapi-ci/blob/v1/" in written
    assert len([line for line in out.getvalue().splitlines() if line.startswith("::error")]) == 1
