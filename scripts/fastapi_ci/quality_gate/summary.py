"""How the gate's results read: the step summary (markdown), the terminal text, the report.

The summary's skeleton is the package data file `templates/summary.md`; this module fills
in one table row per check, the top findings, and each tool's raw output in `<details>`.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from itertools import chain, zip_longest
from pathlib import PurePath
from typing import Any

from fastapi_ci.action_io import Annotation, markdown_cell
from fastapi_ci.quality_gate.checks.verdict import CheckResult, CheckStatus
from fastapi_ci.step_summary import summary_from_template

STATUS_ICONS: dict[CheckStatus, str] = {
    "passed": "✅",
    "failed": "❌",
    "error": "💥",
    "unavailable": "⚠️",
    "skipped": "⏭️",
}

# Findings listed under the table: enough to act on, not a wall.
TOP_FINDINGS_PER_CHECK = 5


def failed_check_names(results: Sequence[CheckResult]) -> list[str]:
    """The names of the checks that close the gate, in report order."""
    return [result.name for result in results if result.blocking]


def capped_annotations(results: Sequence[CheckResult], per_check: int) -> list[Annotation]:
    """At most `per_check` annotations of each check, interleaved check by check.

    Interleaving matters because the I/O layer prints only the first 20 annotations of a
    step (GitHub shows 10 errors per step anyway): every failing check gets its first
    findings onto the pull request before any check gets its tenth.
    """
    per_check_lists = [result.annotations[:per_check] for result in results]
    return [
        annotation
        for annotation in chain.from_iterable(zip_longest(*per_check_lists))
        if annotation is not None
    ]


def _location(annotation: Annotation) -> str:
    if annotation.file is None:
        return ""
    return annotation.file + (f":{annotation.line}" if annotation.line else "")


def _row(result: CheckResult) -> str:
    status = f"{STATUS_ICONS[result.status]} {result.status}"
    detail = f" — {markdown_cell(result.detail)}" if result.detail else ""
    if result.tool:
        detail += f" · {markdown_cell(result.tool)}"
    duration = f"{result.duration_s:.1f}s" if result.duration_s else "—"
    return f"| {result.name} | {status}{detail} | {result.findings} | {duration} |"


def _top_findings(results: Sequence[CheckResult]) -> str:
    lines = []
    for result in results:
        if not result.annotations:
            continue
        lines.append(f"**{result.name}**")
        for annotation in result.annotations[:TOP_FINDINGS_PER_CHECK]:
            where = _location(annotation)
            title = f"{annotation.title}: " if annotation.title else ""
            lines.append(f"- {f'`{where}` ' if where else ''}{title}{annotation.message}")
        hidden = len(result.annotations) - TOP_FINDINGS_PER_CHECK
        if hidden > 0:
            lines.append(f"- … and {hidden} more (see the JSON report)")
        lines.append("")
    return "\n".join(lines).strip()


def _command_line(command: Sequence[str]) -> str:
    """The command as a reader wants it: `python -m mypy ...`, not the venv's full path."""
    if not command:
        return ""
    shown = " ".join([PurePath(command[0]).name, *command[1:]])
    return html.escape(shown if len(shown) <= 200 else shown[:199] + "…")


def _details(results: Sequence[CheckResult]) -> str:
    """Raw output of the checks that did not pass (a passing tool's output is noise)."""
    blocks = []
    for result in results:
        if result.status == "passed" or not result.output.strip():
            continue
        # A fence longer than any backtick run in the output cannot be closed by it.
        fence = "`" * max(3, _longest_backtick_run(result.output) + 1)
        blocks.append(
            f"<details><summary>{result.name} output: <code>{_command_line(result.command)}"
            f"</code></summary>\n\n{fence}text\n{result.output.rstrip()}\n{fence}\n\n</details>"
        )
    return "\n\n".join(blocks)


def _longest_backtick_run(text: str) -> int:
    longest = current = 0
    for char in text:
        current = current + 1 if char == "`" else 0
        longest = max(longest, current)
    return longest


def headline(results: Sequence[CheckResult]) -> str:
    """`all 7 checks passed` or `2 of 7 checks failed: mypy, tests`."""
    failed = failed_check_names(results)
    ran = [result for result in results if result.status != "skipped"]
    if not failed:
        return f"all {len(ran)} checks passed" + (
            " (audit unavailable)" if any(r.status == "unavailable" for r in results) else ""
        )
    return f"{len(failed)} of {len(ran)} checks failed: {', '.join(failed)}"


def render_markdown(results: Sequence[CheckResult]) -> str:
    """The step summary: status line, one row per check, top findings, raw outputs."""
    return summary_from_template(
        "fastapi_ci.quality_gate",
        {
            "status_icon": "❌" if failed_check_names(results) else "✅",
            "headline": headline(results),
            "rows": "\n".join(_row(result) for result in results),
            "findings": _top_findings(results),
            "details": _details(results),
        },
    )


def render_text(results: Sequence[CheckResult]) -> str:
    """The terminal view: one aligned line per check, then the verdict."""
    width = max((len(result.name) for result in results), default=0)
    lines = [
        f"{STATUS_ICONS[result.status]} {result.name:<{width}}  {result.status:<11} "
        f"{result.duration_s:6.1f}s  {result.detail}" + (f" · {result.tool}" if result.tool else "")
        for result in results
    ]
    verdict = "❌" if failed_check_names(results) else "✅"
    return "\n".join([*lines, f"{verdict} quality-gate: {headline(results)}"])


def build_report(
    results: Sequence[CheckResult], coverage: float | None, settings: dict[str, Any]
) -> dict[str, Any]:
    """The JSON report written to `report-path` (and printed by `--json`)."""
    failed = failed_check_names(results)
    return {
        "passed": not failed,
        "failed_checks": failed,
        "coverage": coverage,
        "settings": settings,
        "checks": [result.model_dump(mode="json") for result in results],
    }
