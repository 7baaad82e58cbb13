"""SIGINT and SIGTERM as an exception the code can clean up after (a cancelled run).

A cancelled GitHub run sends SIGINT to the step, then SIGTERM 7.5 s later, then SIGKILL.
Python turns SIGINT into KeyboardInterrupt, but SIGTERM kills it where it stands: a
wait-stable cut there would leave a half-rolled-out version serving. Inside `cancellable()`
both raise `Cancelled`, so a `try` can roll back; inside `shielded()` they are only
remembered, so the one API call that starts a rollback is never cut in half.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Cancelled(BaseException):
    """The process was told to stop (SIGINT or SIGTERM); a BaseException so no `except
    Exception` swallows it."""

    def __init__(self, signal_name: str) -> None:
        super().__init__(f"cancelled by {signal_name}")
        self.signal_name = signal_name


class _State:
    shielded = False
    pending: str | None = None


def _raise_cancelled(signum: int, _frame: FrameType | None) -> None:
    name = signal.Signals(signum).name
    if _State.shielded:
        _State.pending = name
        return
    raise Cancelled(name)


@contextmanager
def cancellable() -> Iterator[None]:
    """SIGINT and SIGTERM raise `Cancelled` inside this block (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    previous = {number: signal.signal(number, _raise_cancelled) for number in HANDLED_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@contextmanager
def shielded() -> Iterator[None]:
    """Signals arriving in this block are remembered, not raised (see `pending_signal`)."""
    outer = _State.shielded
    _State.shielded = True
    try:
        yield
    finally:
        _State.shielded = outer


def pending_signal() -> str | None:
    """The signal that arrived while shielded (and forget it), or None."""
    name, _State.pending = _State.pending, None
    return name
