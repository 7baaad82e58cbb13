"""The documentation as GitHub shows it: its pages, their headings' anchors, their links."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tests.support.components import REPO_ROOT

FENCE = re.compile(r"^ {0,3}(```|~~~)")
HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t#]*$")
INLINE_CODE = re.compile(r"`+[^`]*`+")
# [text](target) and ![alt](target), with an optional "title"; the target has no spaces.
LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # https:, mailto:, ...


def doc_pages() -> list[Path]:
    """Every page of the documentation: the README, CONTRIBUTING.md and docs/**/*.md."""
    docs = sorted((REPO_ROOT / "docs").rglob("*.md"))
    return [REPO_ROOT / "README.md", REPO_ROOT / "CONTRIBUTING.md", *docs]


def relative_name(page: Path) -> str:
    return str(page.relative_to(REPO_ROOT)) if page.is_relative_to(REPO_ROOT) else str(page)


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) of the lines outside fenced code blocks."""
    lines, fenced = [], False
    for number, line in enumerate(text.splitlines(), start=1):
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            lines.append((number, line))
    return lines


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: its text, lower case, punctuation dropped, spaces
    turned into hyphens (github-slugger, as GitHub renders Markdown)."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link shows its text
    text = text.replace("`", "")
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """The anchors of a page's headings; a repeated one gets -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    found = set()
    for _number, line in prose_lines(text):
        if heading := HEADING.match(line):
            slug = github_slug(heading.group(2))
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            found.add(slug if count == 0 else f"{slug}-{count}")
    return found


@dataclass(frozen=True)
class Link:
    page: Path
    line: int
    target: str


def relative_links(page: Path) -> list[Link]:
    """The links of a page to files of this repository (not inside code)."""
    links = []
    for number, line in prose_lines(page.read_text(encoding="utf-8")):
        for match in LINK.finditer(INLINE_CODE.sub("", line)):
            target = match.group(1)
            if not EXTERNAL.match(target):
                links.append(Link(page, number, target))
    return links


def broken(link: Link) -> str | None:
    """Why a link leads nowhere on GitHub (a missing file or heading), else None."""
    path, _, anchor = link.target.partition("#")
    target = (link.page.parent / path).resolve() if path else link.page
    if not target.exists():
        return f"{path} does not exist"
    if anchor:
        if target.suffix != ".md" or target.is_dir():
            return f"#{anchor} points into {path}, which is not a Markdown page"
        if anchor not in anchors(target.read_text(encoding="utf-8")):
            return f"{relative_name(target)} has no heading #{anchor}"
    return None
