"""mypy: type-check the project with its interpreter's packages."""

from __future__ import annotations

from fastapi_ci.action_io import Annotation
from fastapi_ci.quality_gate import parsers
from fastapi_ci.quality_gate.checks.interface import ToolCheck
from fastapi_ci.quality_gate.context import GateContext


class MypyCheck(ToolCheck):
    """Type-check; JSON output where mypy has it (>= 1.11), else its `file:line:` lines.

    The project's mypy when it has one, else ours (`tools.mypy_for`): nothing to require.
    """

    name = "mypy"
    priority = 1
    timeout_s = 900

    def command(self, context: GateContext) -> list[str]:
        """mypy with the project's interpreter, on its configured targets or its packages."""
        project = context.project
        targets = [] if project.mypy_config_names_targets() else project.source_dirs
        output = (
            ["-O", "json"]
            if context.mypy_has_json_output
            else [
                "--show-error-codes",
                "--show-column-numbers",
                "--no-error-summary",
                "--no-pretty",
            ]
        )
        return [*self.tool(context).command, "--no-color-output", *output, *targets]

    def parse(self, stdout: str, context: GateContext) -> list[Annotation]:
        """One annotation per error (notes join the error they belong to)."""
        if context.mypy_has_json_output:
            return parsers.parse_mypy_json(stdout, context.project.repo_path)
        return parsers.parse_mypy_text(stdout, context.project.repo_path)


MYPY = MypyCheck()
