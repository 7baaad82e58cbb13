"""Bad input keeps the contract: exit 2, one `::error::` line naming the input, no traceback."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import resource
import threading
import time
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import pytest
from pydantic import SecretStr

from fastapi_ci.action_io import Action, ActionResult, main_for
from fastapi_ci.cli import ACTIONS
from fastapi_ci.errors import InputError
from fastapi_ci.input_files import MAX_INPUT_FILE_BYTES
from fastapi_ci.schema_guard import write_atomically
from tests.support.components import EXAMPLE_SERVICE


def run_cli(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    """The CLI in process, as on a runner; (exit code, everything it printed)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main_for(ACTIONS, "test", args, env={"GITHUB_ACTIONS": "true", **(env or {})})
    return code, out.getvalue() + err.getvalue()


def assert_bad_input(code: int, printed: str, name: str) -> None:
    errors = [line for line in printed.splitlines() if line.startswith("::error")]
    assert code == 2, printed
    assert len(errors) == 1, printed
    assert f"input '{name}'" in errors[0], printed
    assert "Traceback" not in printed


@pytest.mark.parametrize("sha", ["zzz", "abc", "g" * 40, "1234567\n"])
def test_build_push_sha_must_be_a_commit_hash(sha: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(BUILD_CONTEXT)  # the default context, ".", has a Dockerfile
    code, printed = run_cli(["build-push", "--image", "127.0.0.1:5000/app", "--sha", sha])
    assert_bad_input(code, printed, "sha")


def test_a_missing_alembic_config_is_reported_under_its_own_name(tmp_path: Path) -> None:
    code, printed = run_cli(
        ["migration-lint", "--alembic-dir", str(tmp_path), "--alembic-config", "nope.ini"]
    )
    assert_bad_input(code, printed, "alembic-config")


def assert_bad_inputs(code: int, printed: str, names: list[str]) -> None:
    """Exit 2, one `::error::` line per input, each naming its input, no traceback."""
    errors = [line for line in printed.splitlines() if line.startswith("::error")]
    assert code == 2, printed
    named = [line.split("input '", 1)[1].split("'", 1)[0] for line in errors]
    assert sorted(named) == sorted(names), printed
    assert "Traceback" not in printed


# --- several invalid inputs: every one reported in one run, rules between inputs included ----

# Each case breaks a rule between inputs (or on a value that must parse) together with other
# inputs; these rules were checked at run time, one at a time, after the others had passed.
SEVERAL_INVALID = {
    "rollout": (
        ["rollout", "--service", "orders", "--image", "app:1", "--backend", "nomad", "--env", "A"],
        ["backend", "env"],
    ),
    "wait-stable": (
        ["wait-stable", "--service", "orders", "--timeout", "0"],
        ["timeout", "health-url"],
    ),
    "migrate-once docker": (
        ["migrate-once", "--runner", "docker", "--command", "'", "--env", "1X=y"],
        ["image", "command", "env"],
    ),
    "migrate-once ecs": (
        ["migrate-once", "--runner", "ecs", "--database-url", "postgresql://h:port/db"],
        ["cluster", "task-definition", "database-url"],
    ),
    "verify": (
        ["verify", "--service-url", "http://127.0.0.1:1", "--window", "0"],
        ["window", "service"],
    ),
    "init": (
        ["init", "--app", "main", "--ref", "v1", "--release", "one"],
        ["app", "ref", "release"],
    ),
    "schema-guard": (
        ["schema-guard", "--app", "shop_v1", "--fail-on", "sometimes"],
        ["app", "fail-on"],
    ),
}


@pytest.mark.parametrize("case", sorted(SEVERAL_INVALID))
def test_every_invalid_input_is_reported_in_one_run(case: str) -> None:
    args, names = SEVERAL_INVALID[case]
    code, printed = run_cli(args)
    assert_bad_inputs(code, printed, names)


def test_a_rule_between_inputs_is_not_judged_on_an_invalid_input() -> None:
    # service-url is invalid: "health-url is a path, and service-url is not set" would judge
    # its default, not what the user wrote.
    code, printed = run_cli(["wait-stable", "--service", "orders", "--service-url", "ftp://x"])
    assert_bad_inputs(code, printed, ["service-url"])


def test_a_valid_combination_still_runs() -> None:
    migrate_once = next(action for action in ACTIONS if action.name == "migrate-once")
    inputs = migrate_once.inputs.model_validate(
        {"runner": "ecs", "cluster": "c", "task_definition": "app:1", "env": ["A=1", "B"]}
    )
    assert inputs.task_definition == "app:1"


# --- hostile input files ----------------------------------------------------------------------

PETSTORE = Path(__file__).parents[1] / "fixtures" / "schema_apps" / "petstore_v1.yaml"

# 656 bytes of YAML whose aliases expand to 9**9 strings: a naive walk takes minutes and GBs.
ALIAS_BOMB = "\n".join(
    ["a: &a [x, x, x, x, x, x, x, x, x]"]
    + [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]" for i in range(8)]
    + ["openapi: 3.1.0", "paths: {p: *i}", ""]
)


def hostile_file(kind: str, directory: Path) -> Path:
    """A path of the given kind: the file an input names."""
    path = directory / f"hostile-{kind}"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    elif kind == "non-utf8":
        path.write_bytes(b'{"openapi": "3.1.0", "paths": {}, "x": "\xff\xfe"}')
    elif kind == "alias-bomb":
        path.write_text(ALIAS_BOMB)
    elif kind == "deep-json":
        path.write_text(
            '{"openapi": "3.1.0", "paths": {}, "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
        )
    elif kind == "deep-yaml":
        path.write_text("openapi: 3.1.0\npaths: {}\nx: " + "[" * 5_000 + "]" * 5_000 + "\n")
    elif kind == "too-large":
        with path.open("wb") as handle:
            handle.truncate(MAX_INPUT_FILE_BYTES + 1)  # sparse: no disk used
    return path


def run_cli_bounded(args: list[str], seconds: float = 10) -> tuple[int, str]:
    """run_cli, failing (not hanging) when it does not return in time (a FIFO open blocks)."""
    answer: list[tuple[int, str]] = []
    worker = threading.Thread(target=lambda: answer.append(run_cli(args)), daemon=True)
    started = time.monotonic()
    worker.start()
    worker.join(seconds)
    assert answer, f"still running after {seconds}s: {args}"
    print(f"{args[0]}: {time.monotonic() - started:.2f}s")
    return answer[0]


@pytest.mark.parametrize(
    "kind", ["fifo", "directory", "non-utf8", "alias-bomb", "deep-json", "deep-yaml", "too-large"]
)
def test_a_hostile_input_file_is_exit_2_fast(kind: str, tmp_path: Path) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    path = hostile_file(kind, tmp_path)
    code, printed = run_cli_bounded(["schema-diff", str(path), str(PETSTORE)])
    assert_bad_input(code, printed, "base")
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 200, f"{kind}: memory grew by {grown_mib:.0f} MiB"


@pytest.mark.parametrize(
    ("kind", "why"),
    [
        ("non-utf8", "Why: a document in another encoding would be read wrong"),
        ("alias-bomb", "Why: every walk expands an alias"),
    ],
)
def test_a_hostile_input_files_summary_says_why_and_links_the_docs(
    kind: str, why: str, tmp_path: Path
) -> None:
    summary = tmp_path / "summary.md"
    path = hostile_file(kind, tmp_path)
    code, _ = run_cli(
        ["schema-diff", str(path), str(PETSTORE)], {"GITHUB_STEP_SUMMARY": str(summary)}
    )
    assert code == 2
    written = summary.read_text()
    assert why in written
    assert "(docs/actions/README.md#what-every-action-guarantees)" in written


@pytest.mark.parametrize("kind", ["fifo", "directory", "parent-is-a-file"])
def test_an_unwritable_report_path_is_exit_2_before_any_work(kind: str, tmp_path: Path) -> None:
    if kind == "parent-is-a-file":
        (tmp_path / "file").write_text("")
        report = tmp_path / "file" / "report.json"
    else:
        report = hostile_file(kind, tmp_path)
    # The base does not exist: had the work started, the error would name 'base'.
    code, printed = run_cli_bounded(
        ["schema-diff", str(tmp_path / "missing.json"), str(PETSTORE), "--report-path", str(report)]
    )
    assert_bad_input(code, printed, "report-path")


def test_a_report_path_under_missing_directories_is_created(tmp_path: Path) -> None:
    report = tmp_path / "new" / "dirs" / "report.json"
    code, printed = run_cli(
        ["schema-diff", str(PETSTORE), str(PETSTORE), "--report-path", str(report)]
    )
    assert code == 0, printed
    assert json.loads(report.read_text())["breaking"] is False


# --- the matrix: every subcommand x every input x bad values, as env and as flag ---------------

# A valid value for each required input: the matrix varies one input at a time. A new
# required input fails `test_every_required_input_has_a_valid_value_here` until added.
VALID_REQUIRED = {
    "app": "app.main:app",
    "golden": "openapi.json",
    "base": "base.json",
    "revision": "revision.json",
    "service": "orders",
    "image": "127.0.0.1:5000/app:v1",
    "build-push image": "127.0.0.1:5000/app",  # a repository: build-push computes the tags
    "runner": "local",
    "service_url": "http://127.0.0.1:8000",
}
# build-push checks its context and Dockerfile with its other inputs, and the defaults name
# ./Dockerfile: its cases run where that is valid, so only the varied input is wrong.
BUILD_CONTEXT = EXAMPLE_SERVICE
# Inputs that need another (the model's rules between inputs): the other one, valid, is given.
PARTNERS = {
    "build-push registry_username": {"registry_password": "a-token"},
    "build-push registry_password": {"registry_username": "ci"},
}
HUGE = "9" * 300_000  # over every length cap; as a number, over every bound
BAD_VALUES = {
    "empty": "",
    "newline": "x\ny",
    "huge": HUGE,
    "negative": "-1",
    "inf": "inf",
    "nan": "nan",
    "1e309": "1e309",
    "non-utf8": "ok\udcff\udcfe",  # what os.environ / sys.argv hold for bytes ff fe
}
# Optional inputs a rule between inputs needs for every case to start valid, given as the
# environment (a flag overrides it): wait-stable's default health-url is a path that needs
# service-url; verify rolls back a named service.
VALID_TOGETHER = {
    "wait-stable": {"HEALTH_URL": ""},
    "verify": {"SERVICE": "orders"},
}


def field_kind(annotation: Any) -> str:
    """bool, number, literal, list, text or other: what decides which values must fail."""
    args = [a for a in get_args(annotation) if a is not type(None)] or [annotation]
    if get_origin(annotation) is Literal or any(get_origin(a) is Literal for a in args):
        return "literal"
    if bool in args:
        return "bool"
    if int in args or float in args:
        return "number"
    if get_origin(annotation) is list or any(get_origin(a) is list for a in args):
        return "list"
    if str in args or SecretStr in args:
        return "text"
    return "other"


def must_fail(kind: str, value_name: str, required: bool, multiline: bool) -> bool:
    """True when the value is wrong for every input of this kind (accepting it is a bug)."""
    if value_name == "empty":
        return required  # empty is unset: the default, or "is required"
    if multiline and value_name == "newline":
        return False
    if kind in ("bool", "number", "literal"):
        return True
    if kind == "list":
        return value_name in ("huge", "non-utf8", "negative")  # "-1" looks like a flag
    if kind == "text":
        return value_name in ("newline", "huge", "non-utf8")
    return value_name in ("newline", "huge", "non-utf8")


# Inputs naming a path the action writes: a FIFO or a directory there is exit 2 up front.
PATH_VALUES = ("fifo", "directory")


def is_output_path(info: Any, name: str) -> bool:
    return name == "report_path" or (info.json_schema_extra or {}).get("output_path") is True


def matrix_cases() -> list[tuple[str, str, str, str]]:
    cases = []
    for action in ACTIONS:
        for name, info in action.inputs.model_fields.items():
            kind = field_kind(info.annotation)
            values = [*BAD_VALUES, *(PATH_VALUES if is_output_path(info, name) else ())]
            for value_name in values:
                for form in ("env", "flag"):
                    if form == "flag" and kind == "bool":
                        continue  # --x / --no-x: no value can be given
                    cases.append((action.name, name, value_name, form))
    return cases


def stubbed(action: Action[Any]) -> Action[Any]:
    """The action with its work replaced: the matrix checks the inputs, never runs a build."""
    return dataclasses.replace(
        action, run=lambda _inputs, _console: ActionResult(passed=True, text="ran")
    )


def run_case(action: Action[Any], name: str, value: str, form: str) -> tuple[int, str]:
    model = action.inputs
    together = VALID_TOGETHER.get(action.name, {})
    env = {"GITHUB_ACTIONS": "true", **{action.env_prefix + k: v for k, v in together.items()}}
    args: list[str] = [action.name]
    given = {
        n: VALID_REQUIRED.get(f"{action.name} {n}", VALID_REQUIRED.get(n, ""))
        for n, i in model.model_fields.items()
        if i.is_required()
    }
    given.update(PARTNERS.get(f"{action.name} {name}", {}))
    given[name] = value
    for field_name, field_value in given.items():
        positional = (model.model_fields[field_name].json_schema_extra or {}).get("positional")
        if form == "env":
            env[action.env_prefix + field_name.upper()] = field_value
        elif positional:
            args.append(field_value)
        else:
            args.append(f"--{field_name.replace('_', '-')}={field_value}")
    out, err = io.StringIO(), io.StringIO()
    working_directory = BUILD_CONTEXT if action.name == "build-push" else Path.cwd()
    with (
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
        contextlib.chdir(working_directory),
    ):
        code = main_for((stubbed(action),), "test", args, env=env)
    return code, out.getvalue() + err.getvalue()


def test_every_required_input_has_a_valid_value_here() -> None:
    for action in ACTIONS:
        for name, info in action.inputs.model_fields.items():
            if info.is_required():
                assert name in VALID_REQUIRED, f"add a valid value for {action.name} {name}"


def test_bad_input_matrix_keeps_the_contract(tmp_path: Path) -> None:
    """Exit 2, exactly one ::error:: line naming the input, no traceback; or, for a value
    that can be right for the input, accepted."""
    by_name = {action.name: action for action in ACTIONS}
    values = {**BAD_VALUES, **{kind: str(hostile_file(kind, tmp_path)) for kind in PATH_VALUES}}
    cases = matrix_cases()
    violations: list[str] = []
    started = time.monotonic()
    for action_name, name, value_name, form in cases:
        action = by_name[action_name]
        info = action.inputs.model_fields[name]
        code, printed = run_case(action, name, values[value_name], form)
        errors = [line for line in printed.splitlines() if line.startswith("::error")]
        where = f"{action_name} {name}={value_name} ({form})"
        if "Traceback" in printed:
            violations.append(f"{where}: traceback")
        elif code == 0:
            multiline = (info.json_schema_extra or {}).get("multiline") is True  # type: ignore[union-attr]
            if value_name in PATH_VALUES or must_fail(
                field_kind(info.annotation), value_name, info.is_required(), multiline
            ):
                violations.append(f"{where}: accepted")
        elif code != 2:
            violations.append(f"{where}: exit {code}: {printed[:200]!r}")
        elif len(errors) != 1 or f"input '{name.replace('_', '-')}'" not in errors[0]:
            violations.append(f"{where}: {errors[:2]!r}"[:300])
    elapsed = time.monotonic() - started
    print(f"bad-input matrix: {len(cases)} cases in {elapsed:.1f}s, {len(violations)} violations")
    assert not violations, "\n".join(violations[:40]) + f"\n({len(violations)} in all)"
    assert len(cases) > 1500  # every action's every input: a shrinking matrix is a bug


def test_a_failed_atomic_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "openapi.json"
    target.mkdir()  # os.replace onto a directory fails after the temporary file is written
    with pytest.raises(InputError, match="cannot write"):
        write_atomically(target, "{}", "golden")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["openapi.json"]
