"""ruff, twice: `ruff check` (lint) and `ruff format --check` (formatting), each its own row."""

from __future__ import annotations

from fastapi_ci.action_io import Annotation
from fastapi_ci.quality_gate import parsers, ruff_config
from fastapi_ci.quality_gate.checks.interface import ToolCheck
from fastapi_ci.quality_gate.context import GateContext


class RuffCheck(ToolCheck):
    """`ruff check`: lint with the project's ruff config (`--no-fix`: a gate never edits)."""

    name = "ruff"
    priority = 4
    timeout_s = 300

    def command(self, context: GateContext) -> list[str]:
        """ruff's JSON output, with our caches added to the project's excludes."""
        return [
            *self.tool(context).command,
            "check",
            "--no-fix",
            "--output-format",
            "json",
            *ruff_config.exclude_override(context.project.root),
        ]

    def parse(self, stdout: str, context: GateContext) -> list[Annotation]:
        """One annotation per violation."""
        return parsers.parse_ruff_check(stdout, context.project.repo_path)


class FormatCheck(ToolCheck):
    """`ruff format --check --diff`: the diff tells which lines would change."""

    name = "format"
    priority = 5
    timeout_s = 300

    def command(self, context: GateContext) -> list[str]:
        """The check with its diff, with our caches added to the project's excludes."""
        return [
            *self.tool(context).command,
            "format",
            "--check",
            "--diff",
            *ruff_config.exclude_override(context.project.root),
        ]

    def parse(self, stdout: str, context: GateContext) -> list[Annotation]:
        """One annotation per hunk of the diff, on its first changed line."""
        return parsers.parse_ruff_format_diff(stdout, context.project.repo_path)


RUFF = RuffCheck()
FORMAT = FormatCheck()
