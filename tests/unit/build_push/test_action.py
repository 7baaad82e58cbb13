"""The build-push action without Docker: inputs, dry run, and policy failures as annotations."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from fastapi_ci.action_io import Console, execute
from fastapi_ci.build_push import BUILD_PUSH
from tests.support.components import EXAMPLE_SERVICE, REPO_ROOT

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "build_push"
PREFIX = BUILD_PUSH.env_prefix


def run(env: dict[str, str], *, json_mode: bool = False) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    # An engine that is not there: none of these tests may touch Docker.
    full_env = {"DOCKER_HOST": "unix:///nonexistent/docker.sock", "PATH": "/nonexistent", **env}
    console = Console(env=full_env, stdout=stdout, stderr=stderr, json_mode=json_mode)
    code = execute(BUILD_PUSH, {}, console)
    return code, stdout.getvalue(), stderr.getvalue()


def test_dry_run_prints_the_plan_as_json_without_touching_docker(tmp_path: Path) -> None:
    output = tmp_path / "output"
    code, stdout, _ = run(
        {
            f"{PREFIX}IMAGE": "ghcr.io/Acme/Orders",
            f"{PREFIX}CONTEXT": str(EXAMPLE_SERVICE),
            f"{PREFIX}BUILD_ARGS": "BASE_IMAGE=python:3.12-slim",
            f"{PREFIX}DRY_RUN": "true",
            "GITHUB_EVENT_NAME": "push",
            "GITHUB_REF": "refs/tags/v1.2.3",
            "GITHUB_SHA": "abcdef0123456789abcdef0123456789abcdef01",
            "GITHUB_REPOSITORY": "acme/orders",
            "GITHUB_OUTPUT": str(output),
        }
    )
    assert code == 0
    plan = json.loads(stdout)
    assert plan["tags"] == [
        "ghcr.io/acme/orders:1.2.3",
        "ghcr.io/acme/orders:1.2",
        "ghcr.io/acme/orders:1",
        "ghcr.io/acme/orders:sha-abcdef0",
        "ghcr.io/acme/orders:latest",
    ]
    assert plan["push"] is True
    assert plan["build_args"] == {"BASE_IMAGE": "python:3.12-slim"}
    assert plan["labels"]["org.opencontainers.image.version"] == "1.2.3"
    assert plan["labels"]["org.opencontainers.image.source"] == "https://github.com/acme/orders"
    assert "ghcr.io/acme/orders:1.2" in output.read_text()


def test_a_pull_request_is_not_pushed_by_default() -> None:
    code, stdout, _ = run(
        {
            f"{PREFIX}IMAGE": "ghcr.io/acme/orders",
            f"{PREFIX}CONTEXT": str(EXAMPLE_SERVICE),
            f"{PREFIX}DRY_RUN": "true",
            f"{PREFIX}POLICY": "false",
            "GITHUB_EVENT_NAME": "pull_request",
            "GITHUB_REF": "refs/pull/42/merge",
            "GITHUB_EVENT_PATH": str(FIXTURES / "events" / "pull-request.json"),
        }
    )
    plan = json.loads(stdout)
    assert (code, plan["push"]) == (0, False)
    assert plan["tags"] == ["ghcr.io/acme/orders:pr-42", "ghcr.io/acme/orders:sha-9a8b7c6"]


def test_monorepo_tag_rules_give_tags_and_tag_names_outputs(tmp_path: Path) -> None:
    output = tmp_path / "output"
    code, stdout, _ = run(
        {
            f"{PREFIX}IMAGE": "ghcr.io/acme/api",
            f"{PREFIX}CONTEXT": str(EXAMPLE_SERVICE),
            f"{PREFIX}BUILD_ARGS": "BASE_IMAGE=python:3.12-slim",
            f"{PREFIX}DRY_RUN": "true",
            f"{PREFIX}TAGS": "\n".join(
                rf"type=semver,pattern={pattern},match=api/v(\d.\d.\d)"
                for pattern in ("{{version}}", "{{major}}.{{minor}}", "{{major}}")
            ),
            f"{PREFIX}FLAVOR": "latest=false",
            "GITHUB_REF": "refs/tags/api/v1.2.3",
            "GITHUB_SHA": "a" * 40,
            "GITHUB_OUTPUT": str(output),
        }
    )
    assert code == 0, stdout
    expected = ["1.2.3", "1.2", "1"]
    assert json.loads(stdout)["tags"] == [f"ghcr.io/acme/api:{tag}" for tag in expected]
    written = output.read_text()
    names = written.split("tag-names<<", 1)[1].splitlines()[1:4]
    assert names == expected


@pytest.mark.parametrize(
    ("fixture", "line", "rule"),
    [("user-root", 13, "non-root-user"), ("unpinned-pip", 6, "pip-pinned")],
)
def test_policy_errors_fail_with_annotations_on_the_dockerfile_line(
    fixture: str, line: int, rule: str
) -> None:
    context = FIXTURES / fixture
    code, stdout, _ = run(
        {
            f"{PREFIX}IMAGE": "ghcr.io/acme/orders",
            f"{PREFIX}CONTEXT": str(context),
            f"{PREFIX}BUILD_ARGS": "BASE_IMAGE=python:3.12-slim",
            "GITHUB_ACTIONS": "true",
            "GITHUB_WORKSPACE": str(REPO_ROOT),
            "GITHUB_REF": "refs/heads/main",
            "GITHUB_SHA": "a" * 40,
        }
    )
    assert code == 1
    expected = (
        f"::error file=tests/fixtures/build_push/{fixture}/Dockerfile,line={line},"
        f"title=build-push policy%3A {rule}::"  # ':' escaped in a property, as GitHub wants
    )
    assert expected in stdout
    assert "nothing was built" in stdout


def test_a_policy_failures_summary_says_why_and_links_the_docs(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    code, _, _ = run(
        {
            f"{PREFIX}IMAGE": "ghcr.io/acme/orders",
            f"{PREFIX}CONTEXT": str(FIXTURES / "user-root"),
            f"{PREFIX}BUILD_ARGS": "BASE_IMAGE=python:3.12-slim",
            "GITHUB_ACTIONS": "true",
            "GITHUB_STEP_SUMMARY": str(summary),
            "GITHUB_ACTION_REPOSITORY": "acme/fastapi-ci",
            "GITHUB_ACTION_REF": "v1",
            "GITHUB_REF": "refs/heads/main",
            "GITHUB_SHA": "a" * 40,
        }
    )
    assert code == 1
    written = summary.read_text()
    assert "Dockerfile policy: 1 error" in written  # the report is still there
    assert "Why: each rule stops what breaks or weakens the image" in written
    assert "How to fix: fix each finding where it is annotated" in written
    assert (
        "(https://github.com/acme/fastapi-ci/blob/v1/docs/actions/build-push.md#checks-in-order)"
        in written
    )


def test_a_dry_run_that_fails_the_policy_still_prints_its_plan() -> None:
    code, stdout, _ = run(
        {
            f"{PREFIX}IMAGE": "ghcr.io/acme/orders",
            f"{PREFIX}CONTEXT": str(FIXTURES / "user-root"),
            f"{PREFIX}BUILD_ARGS": "BASE_IMAGE=python:3.12-slim",
            f"{PREFIX}DRY_RUN": "true",
            "GITHUB_REF": "refs/heads/main",
            "GITHUB_SHA": "a" * 40,
        }
    )
    assert code == 1
    plan, _end = json.JSONDecoder().raw_decode(stdout)  # the plan first, then the verdict
    assert "ghcr.io/acme/orders:sha-aaaaaaa" in plan["tags"]
    assert [(f["rule"], f["level"]) for f in plan["policy"] if f["level"] == "error"] == [
        ("non-root-user", "error")
    ]
    assert "nothing was built" in stdout


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({f"{PREFIX}IMAGE": "ghcr.io/acme/orders:1.0"}, "input 'image'"),
        ({f"{PREFIX}IMAGE": "x/y", f"{PREFIX}BUILD_ARGS": "NOEQUALS"}, "input 'build-args'"),
        ({f"{PREFIX}IMAGE": "x/y", f"{PREFIX}PUSH": "yes"}, "input 'push'"),
        ({f"{PREFIX}IMAGE": "x/y", f"{PREFIX}POLICY_IGNORE": "nope"}, "input 'policy-ignore'"),
        ({f"{PREFIX}IMAGE": "x/y", f"{PREFIX}CONTEXT": "/nonexistent"}, "input 'context'"),
        ({f"{PREFIX}IMAGE": "x/y", f"{PREFIX}TAGS": "type=edge"}, "input 'tags'"),
        ({f"{PREFIX}IMAGE": "x/y", f"{PREFIX}FLAVOR": "latest=maybe"}, "input 'flavor'"),
    ],
)
def test_bad_inputs_exit_2_naming_the_input(env: dict[str, str], named: str) -> None:
    code, stdout, stderr = run({**env, "GITHUB_REF": "refs/heads/x", "GITHUB_SHA": "a" * 40})
    assert code == 2
    assert named in stdout + stderr


def test_every_invalid_input_is_reported_at_once_each_on_its_own_line(tmp_path: Path) -> None:
    code, stdout, _ = run(
        {
            f"{PREFIX}IMAGE": "ghcr.io/acme/orders",
            f"{PREFIX}CONTEXT": str(tmp_path / "missing"),
            f"{PREFIX}DOCKERFILE": str(EXAMPLE_SERVICE / "Dockerfile"),
            f"{PREFIX}TARGET": "no-such-stage",
            f"{PREFIX}ECR": "true",
            f"{PREFIX}BUILD_ARGS": "NOT_A_PAIR",
            f"{PREFIX}DRY_RUN": "true",
            "GITHUB_ACTIONS": "true",
        }
    )
    errors = [line for line in stdout.splitlines() if line.startswith("::error")]
    assert code == 2, stdout
    named = sorted(line.split("::input '", 1)[1].split("'", 1)[0] for line in errors)
    assert named == ["aws-region", "build-args", "context", "target"], errors
    assert "Traceback" not in stdout


def test_a_username_without_a_password_is_refused_with_a_bad_input_beside_it() -> None:
    code, stdout, _ = run(
        {
            f"{PREFIX}IMAGE": "127.0.0.1:5000/app",
            f"{PREFIX}CONTEXT": str(EXAMPLE_SERVICE),
            f"{PREFIX}REGISTRY_USERNAME": "ci",
            f"{PREFIX}SHA": "not-a-commit",
            "GITHUB_ACTIONS": "true",
        }
    )
    errors = [line for line in stdout.splitlines() if line.startswith("::error")]
    assert code == 2, stdout
    assert len(errors) == 2, errors
    assert "input 'sha':" in errors[0]
    assert "input 'registry-password': is required with registry-username" in errors[1]
