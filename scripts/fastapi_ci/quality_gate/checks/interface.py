"""What a check is: the one interface the run loop knows every check by.

A check says what it is (`name`: its input and its row in the report), what it needs (the
modules the project's interpreter must have), how the scheduler treats it (its priority,
its timeout, whether it waits on the network or is the gate's critical path), and how it
runs. Most checks are one tool process whose findings are parsed from its standard output
(`ToolCheck`: how to run, how to parse, how to summarise); the audit and the tests, which
do more, implement `run` themselves.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from fastapi_ci.action_io import Annotation
from fastapi_ci.quality_gate.checks.verdict import CheckResult, findings_verdict
from fastapi_ci.quality_gate.context import GateContext
from fastapi_ci.quality_gate.runner import ToolRun, run_tool
from fastapi_ci.quality_gate.tools import Tool


class Check(ABC):
    """One check of the gate (a `runner.ProcessOwner` for the processes it starts)."""

    name: str
    """The input that turns it on, its row in the report and its tool's key in `tools_for`."""
    priority: int
    """Its turn for process slots, lower first: the long checks start first and the quick
    ones fill in around them."""
    timeout_s: float
    """Seconds one of its processes may run before it is stopped and reported as an error."""
    needs: tuple[str, ...] = ()
    """Modules the project's interpreter must have for this check."""
    network_bound: bool = False
    """True when it mostly waits on the network: it runs beside the CPU-bound checks instead
    of taking a process slot (at low CPU priority while the tests run)."""
    critical_path: bool = False
    """True for the tests: the others run beside them at low CPU priority until they end."""

    def tool(self, context: GateContext) -> Tool:
        """The copy of its tool it runs (the project's or fastapi-ci's)."""
        return context.tool(self.name)

    @abstractmethod
    def run(self, context: GateContext) -> CheckResult:
        """Run the check; a finding is reported, never raised."""


class ToolCheck(Check):
    """A check that is one tool process, with its findings on standard output."""

    finding_exit_codes: tuple[int, ...] = (1,)
    """The tool's exit codes that mean findings (0 is clean; any other is the tool failing)."""

    @abstractmethod
    def command(self, context: GateContext) -> list[str]:
        """How to run the tool (in the project root)."""

    @abstractmethod
    def parse(self, stdout: str, context: GateContext) -> list[Annotation]:
        """How to read its findings from its standard output."""

    def summarise(self, result: CheckResult, context: GateContext) -> CheckResult:
        """How to word the verdict, when the common one ("3 findings") does not say enough."""
        return result

    def run(self, context: GateContext) -> CheckResult:
        """Run the tool, then judge its exit code and findings."""
        run = run_tool(self.command(context), context, self)
        return self.judge(run, context)

    def judge(self, run: ToolRun, context: GateContext) -> CheckResult:
        """The verdict on a finished run."""
        result = findings_verdict(
            self, run, lambda: self.parse(run.stdout, context), self.finding_exit_codes
        )
        return self.summarise(result, context)
