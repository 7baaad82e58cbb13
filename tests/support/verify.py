"""Running `fastapi-ci verify` in process, the load flags its deploy tests use, and reading its
report's findings.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path

from fastapi_ci.action_io import main_for
from fastapi_ci.verify import VERIFY
from tests.support.components import EXAMPLE_SERVICE

# Enough answers per endpoint (~600) for a 5% regression to be significant at the default
# false-alarm budget; see docs/actions/verify.md.
WINDOW, RATE = "30", "40"


def run_verify(*args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, object]]:
    """`fastapi-ci verify ... --json` in process; (exit code, report)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main_for((VERIFY,), "test", ["verify", *args, "--json"], env=env or dict(os.environ))
    print(err.getvalue())
    text = out.getvalue()
    print(text)
    return code, json.loads(text) if text.strip().startswith("{") else {}


# verify's tests are not about readiness: on a loaded runner /health/ready may need more than
# wait-stable's usual 6 s for 3 answers in a row.
READINESS_TIMEOUT = ("--readiness-timeout", "30")


def load_args(url: str, baseline: Path) -> list[str]:
    """verify's flags for a window on the service at `url`, with the baseline file."""
    return [
        "--service-url", url,
        "--openapi", str(EXAMPLE_SERVICE / "openapi.json"),
        "--baseline-file", str(baseline),
        "--window", WINDOW, "--rate", RATE,
    ]  # fmt: skip


def findings(report: dict[str, object]) -> str:
    endpoints = report.get("endpoints", {})
    assert isinstance(endpoints, dict)
    return "\n".join(f for e in endpoints.values() for f in e["findings"])


def failed_on_errors(report: dict[str, object]) -> bool:
    """Whether an error test failed: over the ceiling, or above the baseline's error rate."""
    found = findings(report)
    return "error-ceiling" in found or "errors-vs-baseline" in found
