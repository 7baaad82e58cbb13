"""This repository's selftest workflow: every action from the checkout (uses: ./actions/...)
against the example service, through to a Swarm rollout and a failed one, and the actions
failing where they must; run by act on this host."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import CallerRepository, RunAct, copy_tracked_files
from tests.support.components import REPO_ROOT, Registry, free_port

pytestmark = [pytest.mark.docker, pytest.mark.registry]

ACTIONS = ["quality-gate", "schema-guard", "migrate-once", "build-push", "rollout", "wait-stable"]


def this_checkout(tmp_path: Path) -> CallerRepository:
    """A git repository of this working tree, as GitHub checks it out for selftest."""
    checkout = tmp_path / "fastapi-ci"
    copy_tracked_files(REPO_ROOT, checkout)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=checkout, check=True)
    repository = CallerRepository(checkout)
    repository.commit("the library, as it is")
    return repository


def test_selftest_runs_every_action_on_the_example_service(
    swarm: list[str], registry: Registry, base_image: str, tmp_path: Path, run_act: RunAct
) -> None:
    repository = this_checkout(tmp_path)
    port = free_port()

    run = run_act(
        repository,
        "push",
        {"FASTAPI_CI_REGISTRY_PASSWORD": registry.password},
        workflow=".github/workflows/selftest.yml",
        job="actions",
        variables={
            "FASTAPI_CI_BASE_IMAGE": base_image,
            "FASTAPI_CI_REGISTRY": registry.host,
            "FASTAPI_CI_REGISTRY_USERNAME": registry.username,
            "FASTAPI_CI_SELFTEST_PORT": str(port),
        },
    )

    assert run.returncode == 0
    for action in ACTIONS:
        # The step that runs `fastapi-ci ACTION`: the last of its action.yml.
        metadata = yaml.safe_load((REPO_ROOT / "actions" / action / "action.yml").read_text())
        command_step = metadata["runs"]["steps"][-1]["name"]
        assert run.lines(f"Success - Main {command_step}"), f"{action}: {command_step}"
    summary = run.summary()
    assert "quality-gate: all 7 checks passed" in summary
    assert "No changes to the API" in summary
    assert "migrate-once: migration succeeded" in summary
    # v1 and v2, two images (act echoes a composite step's summary twice).
    assert len(set(re.findall(r"build-push: pushed (\S+@sha256:\w+)", summary))) == 2
    # v3 cannot start: wait-stable fails (continue-on-error), rolls back, and v2 serves.
    assert run.lines("Failure - Main v3 never gets stable, and is rolled back")
    assert run.lines("Success - Main The failed rollout left v2 serving")
    assert run.lines("Success - Main Remove the Swarm service")


def test_selftest_checks_that_the_actions_fail_where_they_must(
    tmp_path: Path, run_act: RunAct
) -> None:
    run = run_act(
        this_checkout(tmp_path),
        "push",
        workflow=".github/workflows/selftest.yml",
        job="expected-failures",
    )

    assert run.returncode == 0
    assert run.lines("input 'semantics'")
    assert run.lines("exit status 2")
    assert run.lines("Failure - Main A breaking change fails the schema guard")
    assert run.lines("bad input: failure; breaking: failure (breaking=true)")
    assert run.lines("Success - Main Each of them failed, for its reason")
