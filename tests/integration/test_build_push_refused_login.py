"""build-push against the real engine and registry: what a refused login tells the user."""

from __future__ import annotations

import io
import os
import uuid
from pathlib import Path

from fastapi_ci.action_io import Console, execute
from fastapi_ci.build_push import BUILD_PUSH
from tests.support.components import EXAMPLE_SERVICE, Registry

PREFIX = BUILD_PUSH.env_prefix


def test_a_refused_logins_summary_says_why_and_links_the_docs(
    docker_cli: list[str], registry: Registry, tmp_path: Path
) -> None:
    summary = tmp_path / "summary.md"
    env = {
        **os.environ,
        # A private client config: this login never touches the user's or another test's.
        "DOCKER_CONFIG": str(tmp_path / "docker-config"),
        f"{PREFIX}IMAGE": f"{registry.host}/fastapi-ci-errors-{uuid.uuid4().hex[:8]}",
        f"{PREFIX}CONTEXT": str(EXAMPLE_SERVICE),
        f"{PREFIX}PUSH": "true",
        f"{PREFIX}REGISTRY_USERNAME": registry.username,
        f"{PREFIX}REGISTRY_PASSWORD": "not-the-password",
        "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_REF": "refs/heads/main",
        "GITHUB_SHA": "a" * 40,
    }
    out = io.StringIO()
    code = execute(BUILD_PUSH, {}, Console(env=env, stdout=out, stderr=out))
    assert code == 1, out.getvalue()
    assert "was refused" in out.getvalue()
    written = summary.read_text()
    assert "Why: the registry answered with an authentication/authorization error" in written
    assert "(docs/actions/build-push.md#permissions)" in written
