"""The CPU scheduler of the gate: how many tool processes run at once, in which order, and
at which CPU priority beside the tests.

It knows priorities (numbers), not checks: the run loop and the process runner tell it
which check asks (`runner.ProcessOwner.priority`).
"""

from __future__ import annotations

import heapq
import itertools
import os
import subprocess
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path


class ProcessSlots:
    """At most `size` tool processes at once, granted in priority order.

    The bound is on processes, not on checks, because one check (the sharded tests) runs
    several. Priority is the check's `priority` (the long ones first), so the
    slowest work starts early and the quick checks fill in around it. Checks announced
    with `expect` hold back lower priorities until they ask for their first slot: without
    that, whichever thread happens to start first would take the CPUs.

    Spare slots (`open_spare`) are for processes that run at low CPU priority beside the
    tests: granted only when every slot is taken, and only until `close_spare`.
    """

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self._free = self.size
        self._spare_free = 0
        self._spare_open = False
        self._waiting: list[tuple[int, int]] = []
        self._expected: set[int] = set()
        self._tickets = itertools.count()
        self._changed = threading.Condition()

    def expect(self, priorities: Iterable[int]) -> None:
        """Announce checks that will ask for slots soon."""
        with self._changed:
            self._expected.update(priorities)

    def forget(self, priority: int) -> None:
        """A check is over: it no longer holds anybody back (even if it never asked)."""
        with self._changed:
            self._expected.discard(priority)
            self._changed.notify_all()

    def open_spare(self, count: int) -> None:
        """Add `count` spare slots, for processes that will run at low CPU priority."""
        with self._changed:
            self._spare_free += count
            self._spare_open = True
            self._changed.notify_all()

    def close_spare(self) -> None:
        """No more spare slots granted (those held run on until released)."""
        with self._changed:
            self._spare_open = False

    def acquire(self, priority: int, count: int = 1) -> int:
        """Wait for `count` slots (at most all of them) and take them; return how many."""
        count = min(count, self.size)
        self._take(priority, count, spare_ok=False)
        return count

    def _take(self, priority: int, count: int, spare_ok: bool) -> bool:
        """Wait for `count` slots, or one spare slot when `spare_ok` and none is free;
        take them and return True when it is a spare one."""
        ticket = (priority, next(self._tickets))

        def my_turn() -> bool:
            first_in_line = self._waiting[0] == ticket
            nobody_before = all(expected >= priority for expected in self._expected)
            spare = spare_ok and self._spare_open and self._spare_free > 0
            return first_in_line and nobody_before and (self._free >= count or spare)

        with self._changed:
            self._expected.discard(priority)
            heapq.heappush(self._waiting, ticket)
            self._changed.wait_for(my_turn)
            heapq.heappop(self._waiting)
            spare = self._free < count
            if spare:
                self._spare_free -= 1
            else:
                self._free -= count
            self._changed.notify_all()  # the next in line may take another free slot
        return spare

    def release(self, count: int = 1, spare: bool = False) -> None:
        """Give back slots taken with `acquire` (or the spare one `slot` took)."""
        with self._changed:
            if spare:
                self._spare_free += 1
            else:
                self._free += count
            self._changed.notify_all()

    @contextmanager
    def slot(self, priority: int, spare_ok: bool = False) -> Iterator[bool]:
        """Hold one slot for the duration of the `with` block; yields True when it is a
        spare one (when `spare_ok` and every slot is taken)."""
        spare = self._take(priority, 1, spare_ok)
        try:
            yield spare
        finally:
            self.release(spare=spare)


class BesideTests:
    """Runs processes at low CPU priority while the tests run, and gives it back after.

    The tests are the gate's critical path; the other checks only need to end with them.
    At equal priority, whatever runs beside the shards takes CPU time from them: pip-audit
    (network-bound, so it never waits for a slot) starts with ~0.5 s of CPU just when the
    shards start theirs (measured on example-service: their start-up 0.3 s slower), and
    the quick checks, queued for the CPUs the shards free, ran after them (mypy, bandit and
    ruff: 0.5 s after shards that ended together). At low priority the kernel gives them
    the CPU time the tests leave idle (a test sleeping or waiting on a socket) and almost
    nothing of the time a test wants. Once the tests are done, what still runs gets its
    priority back, and what starts later starts at normal priority.

    The gate lowers a priority only where it can raise it back (`can_restore_priority`):
    otherwise other work on the machine could starve a check after the tests are done.
    """

    NICENESS = 19
    """How much lower than the gate's own (at most 19: ~1.5% of a CPU a test wants)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lowered: list[tuple[subprocess.Popen[str], int]] = []
        self._tests_done = False

    def started(self, process: subprocess.Popen[str]) -> None:
        """Lower a process just started (before it has done any real work; not with
        `preexec_fn`, which is unsafe in a threaded program)."""
        with self._lock:
            if self._tests_done:
                return
            try:
                niceness = os.getpriority(os.PRIO_PROCESS, process.pid)
            except (AttributeError, OSError):
                return
            if _set_niceness(process.pid, min(19, niceness + self.NICENESS)):
                self._lowered.append((process, niceness))

    def ended(self, process: subprocess.Popen[str]) -> None:
        """Forget a process that has exited."""
        with self._lock:
            self._lowered = [entry for entry in self._lowered if entry[0] is not process]

    def tests_done(self) -> None:
        """Their own priority back for the processes still running; none lowered from now."""
        with self._lock:
            self._tests_done = True
            for process, niceness in self._lowered:
                if process.poll() is None:
                    _set_niceness(process.pid, niceness)
            self._lowered.clear()


# Linux capability that allows raising a process's priority (see capabilities(7)).
_CAP_SYS_NICE = 23


def can_restore_priority() -> bool:
    """True when the gate may raise a priority it lowered back to its own: with the
    CAP_SYS_NICE capability (root, usually), or an RLIMIT_NICE that allows it."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
            if line.startswith("CapEff:") and int(line.split()[1], 16) >> _CAP_SYS_NICE & 1:
                return True
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource  # Unix only, hence here

        limit = resource.getrlimit(resource.RLIMIT_NICE)[0]
        own = os.getpriority(os.PRIO_PROCESS, 0)
    except (ImportError, AttributeError, OSError, ValueError):
        return False
    # RLIMIT_NICE lets a process lower its niceness down to 20 - limit.
    return limit == resource.RLIM_INFINITY or 20 - own <= limit


def _set_niceness(pid: int, niceness: int) -> bool:
    """Set a process's niceness; False where that is not possible (or not allowed)."""
    try:
        os.setpriority(os.PRIO_PROCESS, pid, niceness)
    except (AttributeError, OSError):
        return False
    return True
