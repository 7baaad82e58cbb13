"""The Dockerfile policy: each rule, on the right line, through a parser that reads real files."""

from __future__ import annotations

from pathlib import Path

import pytest

from fastapi_ci.build_push.dockerfile import expand, parse_dockerfile, parse_instructions
from fastapi_ci.build_push.policy import Finding, check_dockerfile
from fastapi_ci.build_push.requirements import is_pinned
from tests.support.components import EXAMPLE_SERVICE, REPO_ROOT

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "build_push"
GOOD_TAIL = 'RUN useradd --uid 10001 app\nUSER 10001\nCMD ["python", "-m", "app"]\n'


def findings_of(fixture: str, **build_args: str) -> list[Finding]:
    directory = FIXTURES / fixture
    return check_dockerfile(directory / "Dockerfile", directory, build_args)


def check_text(
    tmp_path: Path, dockerfile: str, files: dict[str, str] | None = None
) -> list[Finding]:
    (tmp_path / "Dockerfile").write_text(dockerfile)
    (tmp_path / ".dockerignore").write_text(".git\n")
    for name, content in (files or {}).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(content)
    return check_dockerfile(tmp_path / "Dockerfile", tmp_path, {})


def errors(findings: list[Finding]) -> list[tuple[str, int | None]]:
    return [(f.rule, f.line) for f in findings if f.level == "error"]


def test_the_example_service_passes_with_only_digest_warnings() -> None:
    findings = check_dockerfile(
        EXAMPLE_SERVICE / "Dockerfile", EXAMPLE_SERVICE, {"BASE_IMAGE": "python:3.11-slim"}
    )
    assert {(f.rule, f.level) for f in findings} == {("base-image-digest", "warning")}


def test_user_root_last_is_an_error_on_its_line() -> None:
    assert errors(findings_of("user-root", BASE_IMAGE="python:3.11-slim")) == [
        ("non-root-user", 13)
    ]


def test_unpinned_requirements_file_and_inline_package_are_errors_on_their_run_lines() -> None:
    findings = findings_of("unpinned-pip", BASE_IMAGE="python:3.11-slim")
    assert errors(findings) == [("pip-pinned", 6), ("pip-pinned", 9)]
    from_file = next(f for f in findings if f.line == 6)
    # Named with file and line, following -r into the nested file.
    assert "requirements/base.txt:3 'httpx>=0.27'" in from_file.message
    assert "requirements/extra.txt:1 'pydantic'" in from_file.message
    assert "'gunicorn'" in next(f for f in findings if f.line == 9).message


def test_a_migrating_entrypoint_script_is_an_error_naming_the_script_line() -> None:
    findings = findings_of("migrating-entrypoint")
    assert errors(findings) == [("migration-in-entrypoint", 12)]
    message = findings[0].message if findings[0].level == "error" else findings[1].message
    assert "docker-entrypoint.sh:4" in message


def test_single_stage_latest_image_collects_every_rule() -> None:
    findings = check_dockerfile(
        FIXTURES / "single-stage-latest" / "Dockerfile", FIXTURES / "single-stage-latest", {}
    )
    assert sorted((f.rule, f.level, f.line) for f in findings) == [
        ("base-image-tag", "error", 1),
        ("dockerignore", "warning", 1),
        ("migration-in-entrypoint", "error", 3),
        ("multi-stage", "warning", 1),
        ("non-root-user", "error", 1),
        ("pip-no-cache-dir", "error", 2),
    ]


def test_ignored_rules_are_not_reported() -> None:
    findings = check_dockerfile(
        FIXTURES / "single-stage-latest" / "Dockerfile",
        FIXTURES / "single-stage-latest",
        {},
        ignore=["dockerignore", "multi-stage", "base-image-tag"],
    )
    assert {f.rule for f in findings} == {
        "migration-in-entrypoint",
        "non-root-user",
        "pip-no-cache-dir",
    }


@pytest.mark.parametrize(
    ("user", "is_error"),
    [
        ("root", True),
        ("0", True),
        ("0:0", True),
        ("root:app", True),
        ("10001", False),
        ("app:app", False),
        ("${APP_UID}", False),
    ],
)
def test_final_user_root_or_uid_zero_is_an_error(tmp_path: Path, user: str, is_error: bool) -> None:
    findings = check_text(
        tmp_path,
        f"FROM python:3.12-slim AS b\nFROM python:3.12-slim\nARG APP_UID=10001\nUSER {user}\n",
    )
    assert (("non-root-user", 4) in errors(findings)) is is_error


def test_final_stage_inherits_user_from_the_stage_it_is_built_from(tmp_path: Path) -> None:
    findings = check_text(
        tmp_path, 'FROM python:3.12-slim AS base\nUSER 10001\nFROM base AS final\nCMD ["x"]\n'
    )
    assert errors(findings) == []


def test_an_earlier_stage_running_as_root_is_fine(tmp_path: Path) -> None:
    findings = check_text(
        tmp_path, "FROM python:3.12-slim AS b\nUSER root\nFROM python:3.12-slim\n" + GOOD_TAIL
    )
    assert errors(findings) == []


@pytest.mark.parametrize(
    ("base", "rule", "level"),
    [
        ("python", "base-image-tag", "error"),
        ("python:latest", "base-image-tag", "error"),
        ("registry.local:5000/team/python", "base-image-tag", "error"),
        ("python:3.12-slim", "base-image-digest", "warning"),
    ],
)
def test_base_image_tag_rules(tmp_path: Path, base: str, rule: str, level: str) -> None:
    findings = check_text(
        tmp_path, f"FROM {base} AS b\nFROM python:3.12-slim@sha256:{'a' * 64}\n" + GOOD_TAIL
    )
    assert (rule, level, 1) in {(f.rule, f.level, f.line) for f in findings}


@pytest.mark.parametrize(
    ("source", "rule", "level"),
    [
        ("ghcr.io/astral-sh/uv:0.8.4", "base-image-digest", "warning"),
        ("ghcr.io/astral-sh/uv:latest", "base-image-tag", "error"),
        ("ghcr.io/astral-sh/uv", "base-image-tag", "error"),
        ("${UV_IMAGE}", "base-image-digest", "warning"),
    ],
)
def test_copy_from_an_external_image_is_held_to_the_base_image_rules(
    tmp_path: Path, source: str, rule: str, level: str
) -> None:
    pinned = f"python:3.12-slim@sha256:{'a' * 64}"
    findings = check_text(
        tmp_path,
        f"ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.8.4\nFROM {pinned} AS b\nFROM {pinned}\n"
        f"ARG UV_IMAGE\nCOPY --from={source} /uv /bin/uv\nCOPY --from=b /x /x\n"
        "COPY --from=0 /y /y\n" + GOOD_TAIL,
    )
    found = {(f.rule, f.level, f.line) for f in findings if f.rule.startswith("base-image")}
    assert found == {(rule, level, 5)}
    assert "COPY --from image" in next(f.message for f in findings if f.line == 5)


def test_a_digest_pinned_base_has_no_base_findings(tmp_path: Path) -> None:
    digest = "sha256:" + "a" * 64
    findings = check_text(tmp_path, f"FROM python:3.12-slim@{digest} AS b\nFROM b\n" + GOOD_TAIL)
    assert not [f for f in findings if f.rule.startswith("base-image")]


def test_build_args_override_the_arg_default_in_from(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(
        "ARG BASE=python:latest\nFROM ${BASE} AS b\nFROM b\n" + GOOD_TAIL
    )
    (tmp_path / ".dockerignore").write_text("")
    as_written = check_dockerfile(tmp_path / "Dockerfile", tmp_path, {})
    overridden = check_dockerfile(tmp_path / "Dockerfile", tmp_path, {"BASE": "python:3.12"})
    assert ("base-image-tag", 2) in errors(as_written)
    assert errors(overridden) == []


def test_an_arg_without_value_in_from_is_a_warning_not_a_guess(tmp_path: Path) -> None:
    findings = check_text(tmp_path, "ARG BASE\nFROM $BASE AS b\nFROM b\n" + GOOD_TAIL)
    assert ("base-image-tag", "warning", 2) in {(f.rule, f.level, f.line) for f in findings}


@pytest.mark.parametrize(
    "run",
    [
        "pip install --no-cache-dir fastapi==0.115.0",
        "python -m pip install --no-cache-dir 'fastapi[all]==0.115.0'",
        "--mount=type=cache,target=/root/.cache/pip pip install fastapi==0.115.0",
        "pip3 install --no-cache-dir --require-hashes -r requirements.txt",
        "pip install --no-cache-dir -c constraints.txt fastapi",
        "pip install --no-cache-dir --no-deps .",
        "uv pip install --system fastapi",
    ],
)
def test_accepted_pip_installs(tmp_path: Path, run: str) -> None:
    findings = check_text(
        tmp_path,
        f"FROM python:3.12-slim AS b\nCOPY . .\nRUN {run}\nFROM b\n" + GOOD_TAIL,
        {"requirements.txt": "fastapi\n", "constraints.txt": "fastapi==0.115.0\n"},
    )
    assert errors(findings) == []


@pytest.mark.parametrize(
    ("run", "rule"),
    [
        ("pip install fastapi==0.115.0", "pip-no-cache-dir"),
        ("apt-get update && /opt/venv/bin/pip install --no-cache-dir fastapi>=0.100", "pip-pinned"),
        ("pip install --no-cache-dir -rrequirements.txt", "pip-pinned"),
        ("pip install --no-cache-dir --upgrade pip", "pip-pinned"),
        ("pip install --no-cache-dir 'fastapi==0.*'", "pip-pinned"),
        ("pip install --no-cache-dir git+https://github.com/a/b@main", "pip-pinned"),
    ],
)
def test_rejected_pip_installs(tmp_path: Path, run: str, rule: str) -> None:
    findings = check_text(
        tmp_path,
        f"FROM python:3.12-slim AS b\nWORKDIR /src\nCOPY requirements.txt .\nRUN {run}\nFROM b\n"
        + GOOD_TAIL,
        {"requirements.txt": "fastapi==0.115.0\nstarlette\n"},
    )
    assert (rule, 4) in errors(findings)


def test_pip_no_cache_dir_env_counts(tmp_path: Path) -> None:
    findings = check_text(
        tmp_path,
        "FROM python:3.12-slim AS b\nENV PIP_NO_CACHE_DIR=1\nRUN pip install x==1\nFROM b\n"
        + GOOD_TAIL,
    )
    assert errors(findings) == []


def test_a_bind_mounted_requirements_file_is_read_from_the_context(tmp_path: Path) -> None:
    findings = check_text(
        tmp_path,
        "FROM python:3.12-slim AS b\n"
        "RUN --mount=type=bind,source=req/prod.txt,target=/tmp/r.txt \\\n"
        "    pip install --no-cache-dir -r /tmp/r.txt\nFROM b\n" + GOOD_TAIL,
        {"req/prod.txt": "django\n"},
    )
    assert errors(findings) == [("pip-pinned", 2)]


def test_a_requirements_file_missing_from_the_context_is_a_warning(tmp_path: Path) -> None:
    findings = check_text(
        tmp_path,
        "FROM python:3.12-slim AS b\nRUN pip install --no-cache-dir -r /nowhere.txt\nFROM b\n"
        + GOOD_TAIL,
    )
    assert ("pip-pinned", "warning", 2) in {(f.rule, f.level, f.line) for f in findings}


@pytest.mark.parametrize(
    "command",
    [
        'CMD ["sh", "-c", "alembic upgrade head && uvicorn app.main:app"]',
        "ENTRYPOINT python manage.py migrate && gunicorn app.wsgi",
        'CMD ["flask", "db", "upgrade"]',
    ],
)
def test_migrations_in_entrypoint_or_cmd_are_errors(tmp_path: Path, command: str) -> None:
    dockerfile = f"FROM python:3.12-slim AS b\nFROM b\nUSER 10001\n{command}\n"
    findings = check_text(tmp_path, dockerfile)
    assert errors(findings) == [("migration-in-entrypoint", 4)]


def test_a_migration_in_an_earlier_stage_cmd_does_not_count(tmp_path: Path) -> None:
    findings = check_text(
        tmp_path,
        'FROM python:3.12-slim AS b\nCMD ["alembic", "upgrade", "head"]\n'
        f"FROM python:3.12-slim@sha256:{'a' * 64}\n{GOOD_TAIL}",
    )
    assert errors(findings) == []


def test_parser_joins_continuations_skipping_comments_and_keeps_first_line() -> None:
    instructions = parse_instructions(
        "FROM a\n\nRUN one \\\n# a comment inside\n\n    two \\  \n    three\nUSER x\n"
    )
    run = instructions[1]
    assert (run.keyword, run.line, run.value) == ("RUN", 3, "one two three")
    assert instructions[2].line == 8


def test_parser_honours_the_escape_directive_and_heredocs() -> None:
    instructions = parse_instructions(
        "# escape=`\nFROM a\nRUN <<EOF\npip install x\nEOF\nRUN echo `\n  done\n"
    )
    assert instructions[1].heredocs == ("pip install x",)
    assert (instructions[2].value, instructions[2].line) == ("echo done", 6)


def test_parser_reads_stage_names_flags_and_global_args() -> None:
    parsed = parse_dockerfile(
        "Dockerfile",
        "ARG REG=docker.io\nARG TAG\n"
        "FROM --platform=$BUILDPLATFORM ${REG}/python:${TAG:-3.12} AS Build\nFROM build\n",
        {},
    )
    first = parsed.stages[0]
    assert (first.base, first.name, first.line) == ("docker.io/python:3.12", "Build", 3)
    assert parsed.stage_named("build") is first


def test_expand_supports_default_and_alternative_forms() -> None:
    variables: dict[str, str | None] = {"SET": "x", "EMPTY": "", "NONE": None}
    assert expand("${SET:-d}${EMPTY:-d}${NONE-d}${MISSING:+a}${SET:+a}$SET", variables) == "xddax"


@pytest.mark.parametrize(
    ("requirement", "pinned"),
    [
        ("fastapi==0.115.0", True),
        ("Uvicorn[standard] == 0.30.6 ; python_version >= '3.8'", True),
        ("fastapi===0.115.0", True),
        ("fastapi>=0.115", False),
        ("fastapi==0.*", False),
        ("fastapi", False),
        ("git+https://github.com/a/b@" + "a" * 40, True),
        ("pkg --hash=sha256:abc", True),
    ],
)
def test_is_pinned(requirement: str, pinned: bool) -> None:
    assert is_pinned(requirement) is pinned
