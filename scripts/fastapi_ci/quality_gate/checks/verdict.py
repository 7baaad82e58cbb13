"""A check's verdict (`CheckResult`, the same shape for every tool) and the shared ways of
reaching one from a tool's run: clean, findings, or the tool itself broken."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

from pydantic import BaseModel, Field

from fastapi_ci.action_io import Annotation
from fastapi_ci.quality_gate import parsers
from fastapi_ci.quality_gate.runner import ProcessOwner, ToolRun

CheckStatus = Literal["passed", "failed", "unavailable", "error", "skipped"]


class CheckResult(BaseModel):
    """The verdict of one check, the same shape for every tool."""

    name: str
    status: CheckStatus
    blocking: bool = Field(description="True when this result closes the gate.")
    findings: int = 0
    duration_s: float = 0.0
    detail: str = Field(default="", description="One line for the table and the terminal.")
    annotations: list[Annotation] = Field(default_factory=list)
    command: list[str] = Field(default_factory=list)
    output: str = Field(default="", description="The tool's own output (its tail).")
    tool: str = Field(default="", description="Which tool ran: its version and from where.")
    coverage: parsers.CoverageReport | None = Field(default=None, exclude=True)


def verdict(
    name: str, status: CheckStatus, run: ToolRun | None, detail: str, **fields: object
) -> CheckResult:
    """A result of the check `name`, with `run`'s command, output and duration; it closes
    the gate when failed or an error, unless `blocking` says otherwise."""
    blocking = status in ("failed", "error")
    return CheckResult.model_validate(
        {
            "name": name,
            "status": status,
            "blocking": fields.pop("blocking", blocking),
            "detail": detail,
            "duration_s": run.duration_s if run else 0.0,
            "command": run.command if run else [],
            "output": run.output if run else "",
            **fields,
        }
    )


def tool_error(check: ProcessOwner, run: ToolRun) -> CheckResult:
    """The tool itself broke (crash, bad config, timeout): an error, not a finding."""
    if run.returncode is None:
        detail = f"timed out after {check.timeout_s:.0f}s"
    else:
        last_line = next(
            (line for line in reversed(run.output.splitlines()) if line.strip()), "no output"
        )
        detail = f"exit code {run.returncode}: {last_line.strip()[:200]}"
    return verdict(check.name, "error", run, detail)


def findings_verdict(
    check: ProcessOwner,
    run: ToolRun,
    parse: Callable[[], list[Annotation]],
    finding_exit_codes: Sequence[int] = (1,),
) -> CheckResult:
    """The common case: exit 0 is clean, `finding_exit_codes` mean findings, anything else is
    the tool failing; `parse` reads the findings from wherever the tool wrote them."""
    if run.returncode not in (0, *finding_exit_codes):
        return tool_error(check, run)
    try:
        annotations = parse()
    except parsers.ToolOutputError as error:
        return verdict(check.name, "error", run, str(error))
    if run.returncode == 0 and not annotations:
        return verdict(check.name, "passed", run, "no findings")
    count = len(annotations) or 1  # a non-zero exit with nothing parsed is still a finding
    return verdict(
        check.name,
        "failed",
        run,
        f"{count} finding{'s' if count != 1 else ''}",
        findings=count,
        annotations=annotations,
    )
