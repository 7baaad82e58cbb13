"""The process runner: one tool process in the project root, with its check's timeout, in a
process slot of the scheduler, at low CPU priority beside the tests where that applies.

It knows a check only through `ProcessOwner` (what the scheduler needs of it): the checks
import the runner, never the other way round.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from fastapi_ci.quality_gate.context import GateContext
from fastapi_ci.quality_gate.scheduler import BesideTests

# Raw output kept per check for the summary's <details>: the end is where tools say why.
OUTPUT_TAIL_CHARS = 20_000


class ProcessOwner(Protocol):
    """The check a process runs for, as the scheduler sees it (`checks.Check` is one)."""

    @property
    def name(self) -> str:
        """The check's name (its input, its row in the report)."""

    @property
    def priority(self) -> int:
        """Its turn for process slots: lower starts first."""

    @property
    def timeout_s(self) -> float:
        """Seconds one of its processes may run before it is stopped."""

    @property
    def network_bound(self) -> bool:
        """True when it mostly waits on the network: it takes no process slot."""

    @property
    def critical_path(self) -> bool:
        """True for the tests: the other checks run beside them at low CPU priority."""


@dataclass(frozen=True)
class ToolRun:
    """One finished (or timed-out) tool process."""

    command: list[str]
    returncode: int | None
    """None when the tool was stopped at its timeout."""
    stdout: str
    stderr: str
    duration_s: float

    @property
    def output(self) -> str:
        """Both streams, trimmed to their tail, for the summary's raw output."""
        combined = "\n".join(part for part in (self.stdout, self.stderr) if part.strip())
        return combined[-OUTPUT_TAIL_CHARS:]


def run_tool(
    command: Sequence[str],
    context: GateContext,
    owner: ProcessOwner,
    extra_env: Mapping[str, str] | None = None,
    slot_held: bool = False,
) -> ToolRun:
    """Run one tool in the project root with its check's timeout; never raises for its result.

    It waits for a process slot first (unless the caller holds slots for it); its duration
    counts from when it really starts.
    """
    needs_slot = not slot_held and not owner.network_bound
    beside = context.beside_tests if not owner.critical_path else None
    slot = (
        context.process_slots.slot(owner.priority, spare_ok=beside is not None)
        if needs_slot
        else nullcontext(False)
    )
    with slot as spare:
        # Beside the tests: the network-bound checks, and the others in a spare slot.
        low = beside if spare or owner.network_bound else None
        started = time.monotonic()
        try:
            returncode, stdout, stderr = _run_process(
                list(command),
                context.project.root,
                {**context.env, **(extra_env or {})},
                owner.timeout_s,
                low,
            )
        except OSError as error:
            return ToolRun(list(command), 127, "", str(error), time.monotonic() - started)
    return ToolRun(list(command), returncode, stdout, stderr, time.monotonic() - started)


def _run_process(
    command: list[str],
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
    beside_tests: BesideTests | None,
) -> tuple[int | None, str, str]:
    """`subprocess.run(capture_output=True, text=True, timeout=...)`, with the process at
    low priority while the tests run when `beside_tests` is given. The exit code is None
    when the process was stopped at its timeout."""
    with subprocess.Popen(
        command, cwd=cwd, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        if beside_tests is not None:
            beside_tests.started(process)
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as expired:
            # As subprocess.run does: what was read so far (reading on could wait for the
            # tool's own children, which may hold its pipes open).
            process.kill()
            process.wait()
            return None, _text(expired.stdout), _text(expired.stderr)
        finally:
            if beside_tests is not None:
                beside_tests.ended(process)
        return process.returncode, stdout, stderr


def _text(stream: bytes | str | None) -> str:
    if isinstance(stream, bytes):
        return stream.decode("utf-8", "replace")
    return stream or ""
