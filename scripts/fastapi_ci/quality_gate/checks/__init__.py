"""The checks of the gate: one object per check behind one interface (`interface.Check`),
each in its own module; this module lists them.

Where each tool runs, and why (`tools` decides; the report names the version and where):

* ruff (lint and format) runs from the project's environment when it has ruff (the project
  pinned its version: the gate must agree with its developers' `ruff check`), else from
  fastapi-ci's own. bandit and pip-audit, which never import the project's code, always
  run from fastapi-ci's environment (`sys.executable -m <tool>`, never from PATH).
* mypy and pytest must import the project's dependencies, so they run with the project's
  interpreter (the `python` input); `project.probe_interpreter` has checked it has them.

Every tool runs with the project root as its working directory, so it reads the project's
own configuration (pyproject.toml, mypy.ini, setup.cfg, .coveragerc) when there is one.
A check never raises for a finding: it reports, and the gate goes on with the others.
"""

from __future__ import annotations

from fastapi_ci.quality_gate.checks.audit import AUDIT
from fastapi_ci.quality_gate.checks.bandit import BANDIT
from fastapi_ci.quality_gate.checks.coverage import COVERAGE
from fastapi_ci.quality_gate.checks.interface import Check, ToolCheck
from fastapi_ci.quality_gate.checks.mypy import MYPY
from fastapi_ci.quality_gate.checks.ruff import FORMAT, RUFF
from fastapi_ci.quality_gate.checks.tests import TESTS
from fastapi_ci.quality_gate.checks.verdict import CheckResult, CheckStatus

__all__ = [
    "AUDIT",
    "BANDIT",
    "CHECKS",
    "COVERAGE",
    "FORMAT",
    "MYPY",
    "REPORT_ORDER",
    "RUFF",
    "TESTS",
    "Check",
    "CheckResult",
    "CheckStatus",
    "ToolCheck",
]

# By priority, longest first: with fewer process slots than checks, the slow ones start at
# once and the quick ones fill in around them.
CHECKS: tuple[Check, ...] = tuple(
    sorted((TESTS, MYPY, AUDIT, BANDIT, RUFF, FORMAT), key=lambda check: check.priority)
)

# The order of the report's rows (the order a developer fixes things in).
REPORT_ORDER: tuple[str, ...] = (
    *(check.name for check in (RUFF, FORMAT, MYPY, BANDIT, AUDIT, TESTS)),
    COVERAGE,
)
