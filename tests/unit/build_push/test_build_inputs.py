"""platforms, target and secrets: parsed and checked before anything is built."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from fastapi_ci.action_io import Console, execute
from fastapi_ci.build_push import BUILD_PUSH
from fastapi_ci.build_push.build_secrets import materialize, parse_secrets, secret_values
from fastapi_ci.build_push.policy import check_dockerfile
from fastapi_ci.errors import InputError
from tests.support.components import REPO_ROOT

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "build_push"
PREFIX = BUILD_PUSH.env_prefix


def run(env: dict[str, str]) -> tuple[int, str]:
    stdout = io.StringIO()
    full_env = {
        "DOCKER_HOST": "unix:///nonexistent/docker.sock",
        "PATH": "/nonexistent",
        "GITHUB_REF": "refs/heads/main",
        "GITHUB_SHA": "a" * 40,
        f"{PREFIX}IMAGE": "ghcr.io/acme/orders",
        f"{PREFIX}CONTEXT": str(FIXTURES / "secret-and-target"),
        f"{PREFIX}DRY_RUN": "true",
        **env,
    }
    code = execute(BUILD_PUSH, {}, Console(env=full_env, stdout=stdout, stderr=stdout))
    return code, stdout.getvalue()


def test_a_target_that_is_not_a_stage_exits_2_naming_the_input_and_the_stages() -> None:
    code, output = run({f"{PREFIX}TARGET": "tests"})
    assert code == 2
    assert "input 'target'" in output
    assert "base, checked, runtime" in output
    assert "Traceback" not in output


def test_a_named_target_is_planned_and_checked_as_the_final_stage() -> None:
    code, output = run({f"{PREFIX}TARGET": "checked"})
    assert code == 0, output
    assert '"target": "checked"' in output


def test_policy_checks_the_target_stage_not_the_last_one(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        "FROM python:3.12-slim@sha256:" + "a" * 64 + " AS dev\n"
        "RUN echo dev\n"
        "FROM python:3.12-slim@sha256:" + "a" * 64 + " AS prod\n"
        "USER 10001\n"
    )
    (tmp_path / ".dockerignore").write_text(".git\n")
    rules = {f.rule for f in check_dockerfile(dockerfile, tmp_path, {}) if f.level == "error"}
    assert rules == set()
    dev = check_dockerfile(dockerfile, tmp_path, {}, target="dev")
    assert [f.rule for f in dev if f.level == "error"] == ["non-root-user"]


def test_a_finding_on_one_platform_only_says_which(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    # A base chosen by the platform: each platform's image is checked on its own.
    dockerfile.write_text("ARG TARGETARCH\nFROM python:3.12-${TARGETARCH}\nUSER 10001\n")
    (tmp_path / ".dockerignore").write_text(".git\n")
    found = check_dockerfile(dockerfile, tmp_path, {}, platforms=("linux/amd64", "linux/arm64"))
    digest_pins = [f.message for f in found if f.rule == "base-image-digest"]
    assert len(digest_pins) == 2
    assert digest_pins[0].startswith("[linux/amd64]")
    assert "python:3.12-amd64" in digest_pins[0]
    assert digest_pins[1].startswith("[linux/arm64]")
    single_stage = [f.message for f in found if f.rule == "multi-stage"]
    assert len(single_stage) == 1  # the same on both platforms: said once, unlabelled
    assert not single_stage[0].startswith("[")


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("linux/amd64,linux/arm64", None),
        ("linux/amd64 linux/arm/v7", None),
        ("linux", "input 'platforms'"),
        ("Linux/AMD64", "input 'platforms'"),
    ],
)
def test_platforms_are_os_arch_lists(value: str, named: str | None) -> None:
    code, output = run({f"{PREFIX}PLATFORMS": value, f"{PREFIX}TARGET": "runtime"})
    if named is None:
        assert code == 0, output
    else:
        assert (code, named in output) == (2, True)


def test_secrets_from_env_file_and_inline_become_private_files(tmp_path: Path) -> None:
    source = tmp_path / "netrc"
    source.write_text("machine x password file-value\n")
    secrets = parse_secrets(f"id=token,env=API_TOKEN\nid=netrc,src={source}\nINLINE=a,b=c\n")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    flags = materialize(secrets, {"API_TOKEN": "env-value"}, scratch)
    assert [flag.split(",")[0] for flag in flags] == ["id=token", "id=netrc", "id=INLINE"]
    files = [Path(flag.split("src=")[1]) for flag in flags]
    assert [file.read_text() for file in files] == [
        "env-value",
        "machine x password file-value\n",
        "a,b=c",
    ]
    assert all(os.stat(file).st_mode & 0o777 == 0o600 for file in files)
    values = secret_values(secrets, {"API_TOKEN": "env-value"})
    assert {"env-value", "a,b=c", "machine x password file-value"} <= set(values)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id=x", "exactly one of env= or src="),
        ("id=x,env=A,src=/f", "exactly one of env= or src="),
        ("id=x,env=A,mode=0400", "unknown key 'mode'"),
        ("noequals", "id=ID,env=VAR"),
        ("id=a,env=A\nid=a,env=B", "more than once"),
    ],
)
def test_bad_secret_lines_are_input_errors(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_secrets(text)


def test_a_secret_is_masked_before_anything_and_never_in_the_plan() -> None:
    code, output = run(
        {
            f"{PREFIX}SECRETS": "id=api_token,env=API_TOKEN",
            "API_TOKEN": "hunter2-very-secret",
            "GITHUB_ACTIONS": "true",
        }
    )
    assert code == 0, output
    lines = [line for line in output.splitlines() if "hunter2-very-secret" in line]
    assert lines == ["::add-mask::hunter2-very-secret"]
    assert output.splitlines()[0].startswith("::add-mask::")
    assert '"secret_ids": [\n    "api_token"\n  ]' in output


def test_a_missing_secret_variable_exits_2_naming_secrets() -> None:
    code, output = run({f"{PREFIX}SECRETS": "id=api_token,env=NOT_SET_ANYWHERE"})
    assert code == 2
    assert "input 'secrets'" in output
