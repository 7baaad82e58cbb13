"""The breaking-change report: its JSON model and its text, markdown and annotation forms."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict, computed_field

from fastapi_ci.action_io import Annotation, AnnotationLevel, markdown_cell
from fastapi_ci.step_summary import summary_from_template

Level = Literal["error", "warning", "info"]

LEVEL_ORDER: dict[Level, int] = {"error": 0, "warning": 1, "info": 2}
_LEVEL_BADGE: dict[Level, str] = {"error": "❌ error", "warning": "⚠️ warning", "info": "ℹ️ info"}  # noqa: RUF001
_ANNOTATION_LEVEL: dict[Level, AnnotationLevel] = {
    "error": "error",
    "warning": "warning",
    "info": "notice",
}
_NO_OPERATION = "(document)"


class Change(BaseModel):
    """One difference between two OpenAPI documents, classified from a client's point of view.

    `id` is the rule that matched (oasdiff's rule id where one exists), `location` where in
    the operation it is (`response 200 application/json: items[].owner.name`), `operation`
    the endpoint (`GET /api/v1/items/{item_id}`) or None for document-wide changes, and
    `affected_operations` every endpoint the change reaches (a shared schema reaches many).
    """

    model_config = ConfigDict(frozen=True)

    id: str
    level: Level
    location: str
    message: str
    operation: str | None = None
    affected_operations: tuple[str, ...] = ()

    @computed_field  # type: ignore[prop-decorator]
    @property
    def affected_operations_count(self) -> int:
        """How many endpoints the change reaches."""
        return len(self.affected_operations)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def fingerprint(self) -> str:
        """A stable id of this change, for an ignore file: rule, endpoint and location.

        The message is left out (it lists other operations, which come and go).
        """
        key = f"{self.id}\n{self.operation or ''}\n{self.location}"
        return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


class DiffReport(BaseModel):
    """All changes, most severe first; `breaking` is true when any change is an error."""

    breaking: bool
    changes: list[Change]

    @classmethod
    def from_changes(cls, changes: Iterable[Change]) -> DiffReport:
        """Build the report: errors, then warnings, then info; then by operation and location."""
        ordered = sorted(
            changes,
            key=lambda c: (LEVEL_ORDER[c.level], c.operation or "", c.location, c.id, c.message),
        )
        return cls(breaking=any(c.level == "error" for c in ordered), changes=ordered)

    def count(self, level: Level) -> int:
        """How many changes have this level."""
        return sum(1 for change in self.changes if change.level == level)


def status_line(report: DiffReport) -> str:
    """One line saying whether clients would break, with counts per level."""
    errors, warnings, infos = (report.count(level) for level in ("error", "warning", "info"))
    if not report.changes:
        return "✅ No changes to the API"
    counts = f"{errors} breaking, {warnings} warnings, {infos} other changes"
    if report.breaking:
        return f"❌ Breaking changes to the API ({counts})"
    return f"✅ No breaking changes to the API ({counts})"


def render_text(report: DiffReport) -> str:
    """A terminal rendering: the status line, then one block per change."""
    lines = [status_line(report)]
    for change in report.changes:
        lines.append("")
        lines.append(f"{change.level:<7} {change.id}")
        lines.append(f"        {change.operation or _NO_OPERATION}  {change.location}")
        lines.append(f"        {change.message}")
    return "\n".join(lines) + "\n"


def render_markdown(report: DiffReport, *, max_rows: int | None = None) -> str:
    """A step-summary rendering: the status line, then a table grouped by endpoint.

    Endpoints with breaking changes come first; `max_rows` caps the table (GitHub limits a
    step summary to 1 MiB) and says how many rows were left out.
    """
    parts: list[str] = []
    if report.changes:
        rows = [
            "| Level | Endpoint | Location | Change | Rule |",
            "|---|---|---|---|---|",
        ]
        ordered = _grouped_by_endpoint(report.changes)
        shown = ordered if max_rows is None else ordered[:max_rows]
        for change in shown:
            cells = (
                _LEVEL_BADGE[change.level],
                _code(change.operation or _NO_OPERATION),
                _code(change.location),
                markdown_cell(change.message),
                _code(change.id),
            )
            rows.append("| " + " | ".join(cells) + " |")
        parts.append("\n".join(rows))
        if len(shown) < len(ordered):
            parts.append(f"… and {len(ordered) - len(shown)} more changes (see the JSON report).")
    return summary_from_template(
        "fastapi_ci.schema_guard",
        {"status_line": status_line(report), "changes": "".join(f"\n\n{p}" for p in parts)},
    )


def change_annotations(
    report: DiffReport, golden_path: str, *, golden_text: str | None = None
) -> list[Annotation]:
    """One annotation per change, pointing at the golden file.

    With `golden_text` (the golden file's content, as `dump_document` writes it) each
    annotation of an existing operation also gets the `line=` of that operation.
    """
    lines_by_operation = _operation_lines(golden_text) if golden_text is not None else {}
    return [
        Annotation(
            level=_ANNOTATION_LEVEL[change.level],
            message=(
                f"{change.operation} {change.location}: {change.message}"
                if change.operation
                else f"{change.location}: {change.message}"
            ),
            file=golden_path,
            line=lines_by_operation.get(change.operation or ""),
            title=change.id,
        )
        for change in report.changes
    ]


def _grouped_by_endpoint(changes: list[Change]) -> list[Change]:
    """Changes grouped by operation; the group with the most severe change first."""
    worst: dict[str, int] = {}
    for change in changes:
        key = change.operation or _NO_OPERATION
        worst[key] = min(worst.get(key, 2), LEVEL_ORDER[change.level])
    return sorted(
        changes,
        key=lambda c: (
            worst[c.operation or _NO_OPERATION],
            c.operation or _NO_OPERATION,
            LEVEL_ORDER[c.level],
            c.location,
        ),
    )


def _code(text: str) -> str:
    # A backtick would end the code span early; such text is shown as plain text instead.
    return markdown_cell(text) if "`" in text else f"`{markdown_cell(text)}`"


_GOLDEN_PATHS_KEY = re.compile(r'^  "paths": \{$')
_GOLDEN_PATH = re.compile(r'^    ("(?:[^"\\]|\\.)*"): \{$')
_GOLDEN_METHOD = re.compile(r'^      "([a-z]+)": \{$')


def _operation_lines(golden_text: str) -> dict[str, int]:
    """Line numbers of the operations in a golden file written by `dump_document`.

    A line scan of that fixed layout (2-space indent, `paths` at the top level) is enough;
    a golden file in another layout simply gets annotations without a line.
    """
    lines: dict[str, int] = {}
    in_paths = False
    current_path: str | None = None
    for number, line in enumerate(golden_text.splitlines(), start=1):
        if not in_paths:
            in_paths = bool(_GOLDEN_PATHS_KEY.match(line))
            continue
        if line == "  }," or line == "  }":
            break
        if match := _GOLDEN_PATH.match(line):
            current_path = json.loads(match.group(1))
        elif current_path is not None and (match := _GOLDEN_METHOD.match(line)):
            lines[f"{match.group(1).upper()} {current_path}"] = number
    return lines
