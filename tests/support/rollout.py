"""Running rollout and wait-stable in process against a deployed target (a Swarm service, a
Kubernetes Deployment), and a request loop counting failures while they run.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

import httpx

from fastapi_ci.action_io import main_for
from fastapi_ci.rollout import ROLLOUT, WAIT_STABLE


class Target(Protocol):
    """What rollout and wait-stable are pointed at: its flags, and its URL on loopback."""

    @property
    def url(self) -> str: ...

    def action_args(self) -> list[str]: ...


@dataclass
class RequestLoop:
    """Requests against the service on fresh connections, counting every failure."""

    url: str
    ok: int = 0
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                status = httpx.get(self.url, timeout=5).status_code
            except httpx.HTTPError as error:
                self.failures.append(f"{type(error).__name__}: {error}")
                continue
            if status == 200:
                self.ok += 1
            else:
                self.failures.append(f"HTTP {status}")


@contextlib.contextmanager
def request_loop(url: str) -> Iterator[RequestLoop]:
    loop = RequestLoop(url)
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        loop.stop.set()
        thread.join(timeout=10)


def run_action(args: list[str]) -> tuple[int, dict[str, object]]:
    """Run rollout or wait-stable in process with --json; (exit code, report)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main_for((ROLLOUT, WAIT_STABLE), "test", [*args, "--json"], env=dict(os.environ))
    print(err.getvalue())  # the action's log, shown by pytest on failure
    text = out.getvalue()
    return code, json.loads(text) if text.strip().startswith("{") else {}


def roll_out(target: Target, image: str, *env: str) -> dict[str, object]:
    """rollout IMAGE [env KEY=VALUE...] → its report (asserting it started)."""
    env_args = [arg for item in env for arg in ("--env", item)]
    code, report = run_action(["rollout", *target.action_args(), "--image", image, *env_args])
    assert code == 0, report
    return report


def wait_stable(
    target: Target, image: str, *extra: str, timeout: str = "90"
) -> tuple[int, dict[str, object]]:
    """wait-stable for IMAGE [extra flags...] → (exit code, report)."""
    return run_action(
        [
            "wait-stable",
            *target.action_args(),
            "--image",
            image,
            "--service-url",
            target.url,
            "--timeout",
            timeout,
            "--readiness-timeout",
            "6",
            "--readiness-interval",
            "0.25",
            *extra,
        ]
    )


def wait_stable_after(
    target: Target, started: dict[str, object], *extra: str
) -> tuple[int, dict[str, object]]:
    """wait-stable for what `rollout` started (its image and start time), as deploy.yml chains
    them."""
    return wait_stable(
        target,
        str(started["deployed_image"]),
        "--started-at",
        str(started["started_at"]),
        *extra,
        timeout="120",
    )
