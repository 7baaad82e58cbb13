"""bandit: security lint of the project's source (honouring `# nosec`)."""

from __future__ import annotations

from fastapi_ci.action_io import Annotation
from fastapi_ci.quality_gate import parsers
from fastapi_ci.quality_gate.checks.interface import ToolCheck
from fastapi_ci.quality_gate.checks.verdict import CheckResult
from fastapi_ci.quality_gate.context import GateContext

# bandit's own default exclusions, plus environments and tests (asserts are fine there).
_BANDIT_EXCLUDES = (
    ".svn,CVS,.bzr,.hg,.git,__pycache__,.tox,.nox,.eggs,*.egg,.venv,venv,tests,test,build,dist"
)


class BanditCheck(ToolCheck):
    """Security lint: findings from `bandit-severity` up fail the check; those below are
    warnings on their lines (bandit's `assert` is low severity)."""

    name = "bandit"
    priority = 3
    timeout_s = 600

    def command(self, context: GateContext) -> list[str]:
        """bandit on the source; the project's `[tool.bandit]` config when it has one."""
        project = context.project
        command = [*self.tool(context).command, "-r", *project.source_dirs, "-f", "json", "-q"]
        if project.tool_config("bandit") is not None:
            # bandit reads pyproject.toml only when told to.
            return [*command, "-c", "pyproject.toml"]
        return [*command, "-x", _BANDIT_EXCLUDES]

    def parse(self, stdout: str, context: GateContext) -> list[Annotation]:
        """Errors from the severity threshold up, warnings below it."""
        return parsers.parse_bandit(stdout, context.project.repo_path, context.bandit_severity)

    def summarise(self, result: CheckResult, context: GateContext) -> CheckResult:
        """Only the findings from the threshold up count; with none, the check passes."""
        if result.status != "failed" or not result.annotations:
            return result
        failing = sum(annotation.level == "error" for annotation in result.annotations)
        below = len(result.annotations) - failing
        if failing:
            return result.model_copy(
                update={
                    "findings": failing,
                    "detail": f"{failing} finding{'s' if failing != 1 else ''} of "
                    f"{context.bandit_severity} severity or more"
                    + (f" ({below} below, as warnings)" if below else ""),
                }
            )
        return result.model_copy(
            update={
                "status": "passed",
                "blocking": False,
                "findings": 0,
                "detail": f"no findings of {context.bandit_severity} severity or more "
                f"({below} below, as warnings)",
            }
        )


BANDIT = BanditCheck()
