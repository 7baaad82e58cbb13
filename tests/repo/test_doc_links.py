"""Every relative link of the documentation leads to a file and heading that exist.

The README, CONTRIBUTING.md and docs/**/*.md link to each other's headings by the anchors
GitHub makes of them; a heading renamed or moved to another page breaks them silently.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.docs import (
    anchors,
    broken,
    doc_pages,
    github_slug,
    relative_links,
    relative_name,
)


def broken_links(page: Path) -> list[str]:
    return [
        f"{relative_name(link.page)}:{link.line}: ({link.target}) {why}"
        for link in relative_links(page)
        if (why := broken(link))
    ]


@pytest.mark.parametrize("page", doc_pages(), ids=relative_name)
def test_every_relative_link_points_to_an_existing_file_and_heading(page: Path) -> None:
    assert not broken_links(page), "\n".join(broken_links(page))


def test_the_docs_link_to_each_other() -> None:
    # The check above must have links to check: the README leads to the docs' pages.
    targets = {link.target.partition("#")[0] for link in relative_links(doc_pages()[0])}
    assert {"docs/actions/verify.md", "CONTRIBUTING.md", "docs/benchmarks.md"} <= targets


@pytest.mark.parametrize(
    ("heading", "slug"),
    [
        ("Versions: why @v1 runs the actions of v1", "versions-why-v1-runs-the-actions-of-v1"),
        ("Start here: `fastapi-ci init`", "start-here-fastapi-ci-init"),
        ("Kubernetes, image on ghcr.io", "kubernetes-image-on-ghcrio"),
        ("ci.yml", "ciyml"),
        ("Tests and the components they need", "tests-and-the-components-they-need"),
    ],
)
def test_a_heading_gets_githubs_anchor(heading: str, slug: str) -> None:
    assert github_slug(heading) == slug


def test_a_repeated_heading_gets_a_numbered_anchor() -> None:
    assert anchors("# verify\n\n## Speed\n\n## Speed\n") == {"verify", "speed", "speed-1"}


def test_a_heading_inside_a_code_block_is_no_anchor() -> None:
    assert anchors("# page\n\n```yaml\n# a comment\n```\n") == {"page"}


def test_a_link_to_a_missing_file_is_broken(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# page\n\nSee [the rules](rules.md).\n")

    assert broken_links(page) == [f"{page}:3: (rules.md) rules.md does not exist"]


def test_a_link_to_a_missing_heading_is_broken(tmp_path: Path) -> None:
    (tmp_path / "rules.md").write_text("# Rules\n\n## Exit codes\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# page\n\n[codes](rules.md#exit-codes), [gone](rules.md#timeouts), [here](#page)\n"
    )

    assert broken_links(page) == [
        f"{page}:3: (rules.md#timeouts) {tmp_path / 'rules.md'} has no heading #timeouts"
    ]


def test_links_in_code_are_not_links(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# page\n\n`[x](nowhere.md)`\n\n```\n[y](nowhere.md)\n```\n")

    assert broken_links(page) == []
