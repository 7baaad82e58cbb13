"""pip-audit: the project's pinned dependencies against the known vulnerabilities.

No verdict (the service unreachable, nothing auditable) is `unavailable`: a warning, never
a pass, and it closes the gate only when `audit-required` is true.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi_ci.action_io import Annotation
from fastapi_ci.quality_gate import locks, parsers
from fastapi_ci.quality_gate.checks.interface import Check
from fastapi_ci.quality_gate.checks.verdict import CheckResult, tool_error, verdict
from fastapi_ci.quality_gate.context import GateContext
from fastapi_ci.quality_gate.locks import AuditTarget
from fastapi_ci.quality_gate.project import Project
from fastapi_ci.quality_gate.runner import ToolRun, run_tool


class AuditCheck(Check):
    """pip-audit (its JSON report) on the project's pinned dependencies.

    pip-audit spends its time waiting on the vulnerability service and the index (measured:
    0.8 s of CPU in 2.0 s): holding a CPU slot for it would leave a core idle, so it runs
    beside the CPU-bound checks instead of taking a turn among them (at low CPU priority
    while the tests run: see `scheduler.BesideTests`).
    """

    name = "audit"
    priority = 2
    timeout_s = 600
    network_bound = True

    def run(self, context: GateContext) -> CheckResult:
        """Find what to audit, run pip-audit on it, judge its report."""
        target = _audit_target(context)
        if target is None:
            return _unavailable(
                context,
                None,
                "nothing to audit: no requirements.txt, uv.lock, poetry.lock or pyproject.toml",
            )
        run = run_tool(
            [
                *self.tool(context).command,
                *target.arguments,
                "-f",
                "json",
                "--progress-spinner",
                "off",
            ],
            context,
            self,
        )
        return judge_audit(context, target, run)


AUDIT = AuditCheck()


def _audit_target(context: GateContext) -> AuditTarget | None:
    """The `requirements` input, else the project's own pins (`locks.find_dependency_file`);
    None: nothing to audit."""
    root = context.project.root
    dependency_file = context.requirements or locks.find_dependency_file(root)
    if dependency_file is None:
        return None
    return locks.audit_target(dependency_file, root, context.work_dir)


def _unavailable(context: GateContext, run: ToolRun | None, why: str) -> CheckResult:
    """No verdict: a warning, never a pass; it closes the gate only when the audit is required."""
    return verdict(
        AUDIT.name,
        "unavailable",
        run,
        why,
        blocking=context.audit_required,
        annotations=[
            Annotation(
                level="error" if context.audit_required else "warning",
                title="dependency audit unavailable",
                message=why
                + (
                    "; audit-required is true, so the gate is closed"
                    if context.audit_required
                    else "; the dependencies were NOT checked for known vulnerabilities"
                ),
            )
        ],
    )


def _vulnerability_annotations(
    report: parsers.AuditReport, target: AuditTarget, project: Project
) -> list[Annotation]:
    text = ""
    find_line: Callable[[str, str], int | None] = parsers.requirement_line
    if target.annotated_file is not None and target.annotated_file.suffix in (".txt", ".lock"):
        text = target.annotated_file.read_text(encoding="utf-8", errors="replace")
        if locks.is_lock_file(target.annotated_file):
            find_line = locks.lock_line
    file = (
        project.repo_path(str(target.annotated_file)) if target.annotated_file is not None else None
    )
    return [
        Annotation(
            level="error",
            file=file,
            line=find_line(text, vuln.package) if text else None,
            title=f"vulnerable dependency: {vuln.package} {vuln.version}",
            message=(
                f"{vuln.package} {vuln.version}: {vuln.id}"
                + (f" ({', '.join(vuln.aliases)})" if vuln.aliases else "")
                + (
                    f"; fixed in {', '.join(vuln.fix_versions)}"
                    if vuln.fix_versions
                    else "; no fixed version yet"
                )
            ),
        )
        for vuln in report.vulnerabilities
    ]


def judge_audit(context: GateContext, target: AuditTarget, run: ToolRun) -> CheckResult:
    """Turn a finished pip-audit run into a verdict; unreachable service = `unavailable`."""
    if run.returncode is None:
        return _unavailable(context, run, f"pip-audit timed out after {AUDIT.timeout_s:.0f}s")
    try:
        report = parsers.parse_pip_audit(run.stdout)
    except parsers.ToolOutputError:
        if parsers.is_service_unreachable(run.stderr):
            return _unavailable(context, run, "the vulnerability service could not be reached")
        return tool_error(AUDIT, run)
    if report.nothing_audited:
        reason = next(iter(report.skipped.values()), "no dependencies found")
        return _unavailable(
            context, run, f"no dependency of {target.description} could be audited ({reason})"
        )
    skipped = f", {len(report.skipped)} skipped" if report.skipped else ""
    if report.vulnerabilities:
        count = len(report.vulnerabilities)
        return verdict(
            AUDIT.name,
            "failed",
            run,
            f"{count} known vulnerabilit{'ies' if count != 1 else 'y'} in {target.description}"
            + skipped,
            findings=count,
            annotations=_vulnerability_annotations(report, target, context.project),
        )
    return verdict(
        AUDIT.name,
        "passed",
        run,
        f"{report.audited} dependencies of {target.description}, no known vulnerabilities{skipped}",
    )
