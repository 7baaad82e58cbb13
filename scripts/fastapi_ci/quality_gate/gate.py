"""The run loop: the enabled checks, concurrently, in the scheduler's process slots.

It imports the checks; the checks import the runner; neither imports this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from fastapi_ci.quality_gate.checks import Check, CheckResult
from fastapi_ci.quality_gate.checks.verdict import verdict
from fastapi_ci.quality_gate.context import GateContext
from fastapi_ci.quality_gate.scheduler import BesideTests, can_restore_priority


def _run_guarded(check: Check, context: GateContext) -> CheckResult:
    """A bug or surprise in one check is that check's error, not the end of the gate."""
    try:
        result = check.run(context)
    except Exception as error:  # reported as this check's error, see above
        result = verdict(check.name, "error", None, f"{type(error).__name__}: {error}")
    finally:
        context.process_slots.forget(check.priority)
        if check.critical_path and context.beside_tests is not None:
            context.process_slots.close_spare()
            context.beside_tests.tests_done()
    return result.model_copy(update={"tool": check.tool(context).label})


def run_checks(checks: Sequence[Check], context: GateContext) -> list[CheckResult]:
    """Run the checks concurrently; `context.process_slots` bounds how many tool processes
    run at once (one per CPU in the gate). While the tests run, the network-bound checks
    and one more process (a spare slot) run beside them at low CPU priority (see
    `BesideTests`), where the gate can give that priority back.

    Threads are enough: each one only waits on its tool's process. All results are
    collected; a failure never stops the others.
    """
    if any(check.critical_path for check in checks) and can_restore_priority():
        context = replace(context, beside_tests=BesideTests())
        context.process_slots.open_spare(1)
    context.process_slots.expect(check.priority for check in checks if not check.network_bound)
    with ThreadPoolExecutor(max_workers=max(1, len(checks))) as pool:
        futures = [pool.submit(_run_guarded, check, context) for check in checks]
        return [future.result() for future in futures]
