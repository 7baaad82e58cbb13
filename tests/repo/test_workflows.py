"""The reusable workflows and the actions: pinned, least-privileged, and consistent.

actionlint and zizmor (run by .ci/run) check the syntax and the known-dangerous patterns;
these tests check the library's own rules, which no linter knows.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from fastapi_ci.cli import SUBCOMMANDS
from tests.support.components import REPO_ROOT

LIBRARY = "fastapi-ci/fastapi-ci"
WORKFLOWS = sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))
REUSABLE = [path for path in WORKFLOWS if path.stem in ("ci", "deploy")]
ACTIONS = sorted((REPO_ROOT / "actions").glob("*/action.yml"))
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)(?P<comment>\s+#.*)?$", re.MULTILINE)


def load(path: Path) -> dict[Any, Any]:
    data: dict[Any, Any] = yaml.safe_load(path.read_text())
    return data


def trigger(workflow: dict[Any, Any]) -> dict[str, Any]:
    on: dict[str, Any] = workflow.get("on", workflow.get(True))  # YAML reads `on` as True
    return on


def jobs(path: Path) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = load(path)["jobs"]
    return found


def step_uses(job: dict[str, Any]) -> list[str]:
    return [step["uses"] for step in job.get("steps", []) if "uses" in step]


@pytest.mark.parametrize("path", WORKFLOWS + ACTIONS, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_third_party_actions_are_pinned_by_commit_hash_with_the_version_beside(
    path: Path,
) -> None:
    for match in USES_LINE.finditer(path.read_text()):
        reference = match["ref"]
        if reference.startswith(("./", f"{LIBRARY}/")):
            continue
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", reference), reference
        assert re.fullmatch(r"\s+# v\d+(\.\d+)*", match["comment"] or ""), (
            f"{reference}: no '# vX.Y.Z' comment saying which version the hash is"
        )


def test_the_library_is_referenced_at_one_ref_everywhere() -> None:
    # On main that ref is main; .ci/release.py pins a release's to its commit hashes.
    refs = {
        match["ref"].rsplit("@", 1)[1]
        for path in WORKFLOWS
        for match in USES_LINE.finditer(path.read_text())
        if match["ref"].startswith(f"{LIBRARY}/")
    }
    assert refs == {"main"}


def test_every_action_opens_with_the_same_install_steps() -> None:
    # Copies, because a composite action cannot `uses:` a sibling at its own version;
    # this test is what keeps them one.
    # Only the extra each action installs differs (`install-fastapi-ci.sh plan quality`).
    openings = {path.parent.name: install_steps(path, without_extra=True) for path in ACTIONS}
    first = next(iter(openings.values()))
    assert [step.get("name") for step in first] == [
        "Plan the fastapi-ci install",
        "Restore the fastapi-ci package cache",
        "Install fastapi-ci",
    ]
    assert {name: steps == first for name, steps in openings.items()} == {
        name: True for name in openings
    }


def install_steps(path: Path, *, without_extra: bool = False) -> list[dict[str, Any]]:
    """The three install steps an action opens with (its extra removed, if asked)."""
    text = path.read_text()
    extra = SUBCOMMANDS[path.parent.name].extra
    if without_extra and extra:
        text = text.replace(f" {extra}'", "'")
    steps: list[dict[str, Any]] = yaml.safe_load(text)["runs"]["steps"][:3]
    return steps


@pytest.mark.parametrize("path", ACTIONS, ids=lambda p: p.parent.name)
def test_each_action_installs_only_the_extra_its_command_needs(path: Path) -> None:
    extra = SUBCOMMANDS[path.parent.name].extra
    runs = [step["run"] for step in install_steps(path) if "run" in step]
    arguments = [run.rsplit('"', 1)[1].split() for run in runs]  # after the script's path
    assert arguments == [["plan", *filter(None, [extra])], ["install", *filter(None, [extra])]]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_run_scripts_take_expressions_only_through_env(path: Path) -> None:
    for name, job in jobs(path).items():
        for step in job.get("steps", []):
            assert "${{" not in step.get("run", ""), f"{path.name} {name}: {step.get('name')}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_permissions_are_none_by_default_and_granted_per_job(path: Path) -> None:
    assert load(path)["permissions"] == {}
    for name, job in jobs(path).items():
        assert "permissions" in job, f"{path.name}: job {name} says nothing about permissions"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_an_oidc_token_is_granted_only_to_jobs_that_use_one(path: Path) -> None:
    for name, job in jobs(path).items():
        # AWS (configure-aws-credentials) and PyPI's trusted publishing take an OIDC token.
        uses_oidc = any(
            "configure-aws-credentials" in uses or "gh-action-pypi-publish" in uses
            for uses in step_uses(job)
        )
        assert (job["permissions"].get("id-token") == "write") == uses_oidc, name


def test_jobs_that_run_the_services_code_only_read_the_repository() -> None:
    # ci.yml runs the pull request's tests: its token must not be able to write anything.
    for name, job in jobs(REPO_ROOT / ".github" / "workflows" / "ci.yml").items():
        assert job["permissions"] == {"contents": "read"}, name


def test_deploy_runs_the_stages_in_order_under_one_environment_lock() -> None:
    deploy = jobs(REPO_ROOT / ".github" / "workflows" / "deploy.yml")
    assert deploy["checks"]["uses"].startswith(f"{LIBRARY}/.github/workflows/ci.yml@")
    assert deploy["build-push"]["needs"] == "checks"
    assert deploy["deploy"]["needs"] == "build-push"
    assert deploy["deploy"]["environment"] == "${{ inputs.environment }}"
    concurrency = deploy["deploy"]["concurrency"]
    assert "${{ inputs.environment }}" in concurrency["group"]
    assert concurrency["cancel-in-progress"] is False  # never stop a migration halfway
    steps = [
        uses.split("/actions/", 1)[1].split("@")[0]
        for uses in step_uses(deploy["deploy"])
        if uses.startswith(LIBRARY)
    ]
    assert steps == ["migrate-once", "verify", "rollout", "wait-stable", "verify"]
    phases = [
        step["with"]["phase"]
        for step in deploy["deploy"]["steps"]
        if "/verify@" in step.get("uses", "")
    ]
    assert phases == ["baseline", "verify"]


@pytest.mark.parametrize("path", REUSABLE, ids=lambda p: p.name)
def test_reusable_workflows_are_called_with_typed_inputs(path: Path) -> None:
    call = trigger(load(path))["workflow_call"]
    for name, spec in call["inputs"].items():
        assert spec["type"] in ("string", "number", "boolean"), name
        assert spec.get("description"), f"{name} has no description"
    for name, spec in call.get("secrets", {}).items():
        assert spec.get("description"), f"secret {name} has no description"
    for name, spec in call["outputs"].items():
        assert spec["value"].startswith("${{ jobs."), name


def deploy_input_check(**inputs: str) -> subprocess.CompletedProcess[str]:
    """Run deploy.yml's "Check the deploy inputs" step as the runner would."""
    [step] = [
        step
        for step in jobs(REPO_ROOT / ".github" / "workflows" / "deploy.yml")["build-push"]["steps"]
        if step.get("name") == "Check the deploy inputs"
    ]
    defaults = {
        "TARGET": "swarm",
        "SERVICE_URL": "",
        "HEALTH_URL": "/health/ready",
        "TIMEOUT": "600",
        "ONE_LINE_SERVICE": "orders",
        "VERIFY": "true",
    }
    env = {**os.environ, **defaults, "MIGRATE": "true", "TASK_DEFINITION": "", **inputs}
    return subprocess.run(
        ["bash", "-e", "-c", step["run"]], env=env, capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize(
    ("inputs", "error"),
    [
        ({"TARGET": "nomad", "SERVICE_URL": "http://x"}, "input 'target': expected kubernetes"),
        ({}, "input 'service-url': needed for the readiness check at '/health/ready'"),
        (
            {"TARGET": "ecs", "SERVICE_URL": "http://x"},
            "input 'task-definition': the ecs target runs the migration",
        ),
        ({"HEALTH_URL": "", "ONE_LINE_SERVICE": "orders\n::stop-commands::x"}, "input 'service'"),
        ({"SERVICE_URL": "http://x\n/y", "ONE_LINE_SERVICE_URL": "http://x\n/y"}, "one line"),
        ({"SERVICE_URL": "ftp://x"}, "input 'service-url': expected an http"),
        ({"HEALTH_URL": "ftp://x/health"}, "input 'health-url': expected '', a /path"),
        ({"HEALTH_URL": "", "TIMEOUT": "inf"}, "input 'timeout': expected seconds"),
        ({"HEALTH_URL": "", "TIMEOUT": "1e309"}, "input 'timeout'"),
        ({"HEALTH_URL": "", "TIMEOUT": "-1"}, "input 'timeout'"),
        ({"HEALTH_URL": "", "TIMEOUT": "0"}, "input 'timeout'"),
        ({"HEALTH_URL": ""}, "input 'service-url': verify sends its load there"),
    ],
)
def test_deploy_refuses_a_call_it_cannot_finish_before_building(
    inputs: dict[str, str], error: str
) -> None:
    checked = deploy_input_check(**inputs)
    assert checked.returncode == 2
    [line] = checked.stdout.splitlines()  # one line: a value's newline cannot start another
    assert line.startswith("::error title=deploy::")
    assert error in line


@pytest.mark.parametrize(
    "inputs",
    [
        {"SERVICE_URL": "http://127.0.0.1:8000"},
        {"HEALTH_URL": "", "VERIFY": "false"},
        {"HEALTH_URL": "https://orders.example/health/ready", "VERIFY": "false"},
        {"TARGET": "ecs", "HEALTH_URL": "", "TASK_DEFINITION": "orders:7", "VERIFY": "false"},
        {"TARGET": "ecs", "HEALTH_URL": "", "MIGRATE": "false", "VERIFY": "false"},
    ],
)
def test_deploy_accepts_a_call_it_can_finish(inputs: dict[str, str]) -> None:
    checked = deploy_input_check(**inputs)
    assert checked.returncode == 0, checked.stdout


def test_the_deploy_job_never_runs_a_cache_another_job_saved() -> None:
    deploy = jobs(REPO_ROOT / ".github" / "workflows" / "deploy.yml")["deploy"]
    assert deploy["env"]["FASTAPI_CI_CACHE"] == "false"
    for path in ACTIONS:  # ...and every action skips the restore when told so
        [restore] = [
            s for s in load(path)["runs"]["steps"] if s.get("uses", "").startswith("actions/cache@")
        ]
        assert "outputs.cache == 'true'" in restore["if"], path


SELFTEST = REPO_ROOT / ".github" / "workflows" / "selftest.yml"


def test_selftest_reports_one_verdict_over_every_other_job() -> None:
    # Branch protection names one required check; a job left out of it could fail unseen.
    selftest_jobs = jobs(SELFTEST)
    verdict = selftest_jobs["selftest"]
    assert sorted(verdict["needs"]) == sorted(name for name in selftest_jobs if name != "selftest")
    # Without always() a failed need SKIPS the verdict job, and a skipped check passes.
    assert verdict["if"] == "${{ always() }}"
    (check,) = verdict["steps"]
    assert "needs.*.result" in check["env"]["RESULTS"]


@pytest.mark.parametrize(
    ("results", "passes"),
    [
        (["success", "success"], True),
        (["success", "failure"], False),
        (["success", "skipped"], False),
        (["cancelled", "success"], False),
    ],
)
def test_selftest_verdict_passes_only_when_every_job_succeeded(
    results: list[str], passes: bool
) -> None:
    (check,) = jobs(SELFTEST)["selftest"]["steps"]
    completed = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", check["run"]],
        env={"PATH": os.environ["PATH"], "RESULTS": json.dumps(results, indent=2)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert (completed.returncode == 0) is passes, completed.stdout + completed.stderr


def test_selftest_runs_weekly_on_an_unchanged_tree() -> None:
    assert trigger(load(SELFTEST))["schedule"], "no scheduled rerun"


def test_selftest_lints_with_the_same_script_as_the_ci_run() -> None:
    (lint,) = [step for step in jobs(SELFTEST)["lint"]["steps"] if "run" in step]
    assert "bash .ci/lint" in lint["run"]
    assert "bash .ci/lint" in (REPO_ROOT / ".ci" / "run").read_text()
