"""Running `fastapi-ci build-push` as the action does (every input through its env), and
where the build-push tests put what they push.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from fastapi_ci.build_push import BUILD_PUSH
from tests.support.components import EXAMPLE_SERVICE

FASTAPI_CI = str(Path(sys.executable).parent / "fastapi-ci")


PREFIX = BUILD_PUSH.env_prefix


SHA = "0123456789abcdef0123456789abcdef01234567"


# Every repository this module creates is under this namespace, so teardown finds them all.
NAMESPACE = f"fastapi-ci-test/bp-{uuid.uuid4().hex[:6]}"


@dataclass
class Run:
    """One `fastapi-ci build-push` process: exit code, streams, and GitHub's files."""

    code: int
    stdout: str
    stderr: str
    outputs: str
    summary: str

    @property
    def everything(self) -> str:
        return "\n".join([self.stdout, self.stderr, self.outputs, self.summary])

    def output(self, name: str) -> str:
        """One output from $GITHUB_OUTPUT (heredoc format)."""
        lines = self.outputs.splitlines()
        for index, line in enumerate(lines):
            if line.startswith(f"{name}<<"):
                delimiter = line.split("<<", 1)[1]
                end = lines.index(delimiter, index + 1)
                return "\n".join(lines[index + 1 : end])
        raise KeyError(name)


def build_push(
    tmp_path: Path,
    base_image: str,
    extra_env: dict[str, str] | None = None,
    json_report: bool = False,
    **inputs: str,
) -> Run:
    """Run the CLI as the action does: every input through FASTAPI_CI_BUILD_PUSH_* env."""
    outputs, summary = tmp_path / "github_output", tmp_path / "step_summary"
    outputs.write_text("")
    summary.write_text("")
    env = {key: value for key, value in os.environ.items() if not key.startswith("GITHUB_")}
    env.update(
        {
            "GITHUB_OUTPUT": str(outputs),
            "GITHUB_STEP_SUMMARY": str(summary),
            "GITHUB_EVENT_NAME": "push",
            "GITHUB_REF": "refs/heads/main",
            "GITHUB_SHA": SHA,
            "GITHUB_REPOSITORY": "acme/orders",
            f"{PREFIX}CONTEXT": str(EXAMPLE_SERVICE),
            f"{PREFIX}BUILD_ARGS": f"BASE_IMAGE={base_image}",
            f"{PREFIX}DEFAULT_BRANCH": "main",
        }
    )
    env.update({PREFIX + name.upper(): value for name, value in inputs.items()})
    env.update(extra_env or {})
    done = subprocess.run(
        [FASTAPI_CI, "build-push", *(["--json"] if json_report else [])],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return Run(done.returncode, done.stdout, done.stderr, outputs.read_text(), summary.read_text())


SECRET_AND_TARGET = (
    EXAMPLE_SERVICE.parent / "tests" / "fixtures" / "build_push" / "secret-and-target"
)
