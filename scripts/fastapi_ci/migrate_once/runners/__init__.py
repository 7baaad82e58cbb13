"""Where the one-shot migration runs: a local process, a container, a Kubernetes Job, an ECS task.

Every runner takes the same `MigrationJob` and returns the same `RunOutcome`, so
migrate-once judges, reports and parses logs identically whatever ran the command.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from fastapi_ci.action_io import Console


def log_lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """A streamed log's lines ("...\\n", the last maybe without), as their bytes arrive.

    A chunk may end inside a line, or inside a multi-byte character: both are completed
    by the next chunk, never printed in halves or as replacement characters.
    """
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pending = ""
    for chunk in chunks:
        pending += decoder.decode(chunk)
        *complete, pending = pending.split("\n")
        for line in complete:
            yield line + "\n"
    pending += decoder.decode(b"", final=True)
    if pending:
        yield pending


@dataclass(frozen=True)
class MigrationJob:
    """The one-shot migration to run: a command from the NEW image (or the checkout)."""

    command: list[str]
    env: dict[str, str]
    timeout_seconds: float
    image: str | None = None


@dataclass
class RunOutcome:
    """How a runner's migration ended.

    `exit_code` is None when the command never reached an exit (it timed out, or the job
    or task failed before it started); `failure` then says why.
    """

    exit_code: int | None
    logs: str
    where: str
    failure: str = ""
    details: dict[str, str] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        """Only a clean exit 0 opens the gate."""
        return self.exit_code == 0 and not self.failure


class Runner(Protocol):
    """Runs a `MigrationJob` to its end (or its timeout) and reports how it ended."""

    name: str

    def run(self, job: MigrationJob, console: Console) -> RunOutcome:
        """Run the migration once; stream or fetch its logs; clean up what it created."""
        ...
