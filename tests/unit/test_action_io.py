"""The I/O contract every action keeps, exercised through a small action defined here."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import pytest
from pydantic import Field, SecretStr

from fastapi_ci.action_io import (
    Action,
    ActionInputs,
    ActionResult,
    Annotation,
    Console,
    escape_log_text,
    execute,
    main_for,
    prepare_key_value_message,
    workflow_command,
)
from fastapi_ci.errors import CheckFailed, InputError
from tests.support.github import read_outputs


class GreetInputs(ActionInputs):
    name: str = Field(description="Who to greet.")
    times: int = Field(default=1, ge=1)
    loud: bool = False
    mode: Literal["plain", "fancy"] = "plain"
    extra_args: list[str] = Field(default_factory=list)
    token: SecretStr | None = None
    target: str | None = Field(default=None, json_schema_extra={"positional": True})


def run_greet(inputs: GreetInputs, console: Console) -> ActionResult:
    if inputs.name == "explode":
        raise RuntimeError("boom")
    if inputs.name == "refuse":
        raise CheckFailed("the greeting was refused", why="policy", fix="ask nicely")
    greeting = ("HELLO" if inputs.loud else "hello") + f" {inputs.name}"
    return ActionResult(
        passed=inputs.name != "nobody",
        text=greeting,
        summary=f"### ✅ greet\n\n{greeting}",
        outputs={"greeting": greeting, "args": "\n".join(inputs.extra_args)},
        report={"greeting": greeting, "times": inputs.times, "target": inputs.target},
        annotations=[
            Annotation(level="warning", message=f"note {i}", file="app/main.py", line=i)
            for i in range(1, inputs.times + 1)
        ],
    )


GREET = Action(name="greet", help="Say hello.", inputs=GreetInputs, run=run_greet)


@pytest.fixture
def github_env(tmp_path: Path) -> dict[str, str]:
    output = tmp_path / "output"
    summary = tmp_path / "summary"
    output.touch()
    summary.touch()
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(summary),
    }


def run(argv: list[str], env: dict[str, str]) -> int:
    return main_for([GREET], "9.9.9", argv, env)


def test_flag_wins_over_the_action_env_variable(capsys: pytest.CaptureFixture[str]) -> None:
    env = {"FASTAPI_CI_GREET_NAME": "from-env"}
    assert run(["greet", "--name", "from-flag"], env) == 0
    assert "hello from-flag" in capsys.readouterr().out
    assert run(["greet"], env) == 0
    assert "hello from-env" in capsys.readouterr().out


def test_input_variables_that_act_sets_and_github_does_not_are_ignored(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Composite steps get no INPUT_* on GitHub; honouring act's would hide an unwired input.
    assert run(["greet"], {"INPUT_NAME": "from-act", "INPUT_EXTRA-ARGS": "a b"}) == 2
    assert "input 'name': is required" in capsys.readouterr().err


def test_outputs_go_to_github_output_and_summary_to_step_summary(
    github_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    env = {**github_env, "FASTAPI_CI_GREET_NAME": "ada", "FASTAPI_CI_GREET_EXTRA_ARGS": "x 'y z'"}
    assert run(["greet"], env) == 0
    outputs = read_outputs(env["GITHUB_OUTPUT"])
    assert outputs == {"greeting": "hello ada", "args": "x\ny z"}
    assert "### ✅ greet" in Path(env["GITHUB_STEP_SUMMARY"]).read_text()


def test_summary_false_writes_no_step_summary(github_env: dict[str, str]) -> None:
    env = {**github_env, "FASTAPI_CI_GREET_NAME": "ada", "FASTAPI_CI_GREET_SUMMARY": "false"}
    assert run(["greet"], env) == 0
    assert Path(env["GITHUB_STEP_SUMMARY"]).read_text() == ""


def test_boolean_input_must_be_exactly_true_or_false(
    github_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    env = {**github_env, "FASTAPI_CI_GREET_NAME": "ada", "FASTAPI_CI_GREET_LOUD": "yes"}
    assert run(["greet"], env) == 2
    out = capsys.readouterr().out
    assert "::error title=greet::input 'loud': expected 'true' or 'false', got 'yes'" in out
    assert "Traceback" not in out


def test_a_boolean_typos_summary_says_why_and_links_the_docs(github_env: dict[str, str]) -> None:
    env = {**github_env, "FASTAPI_CI_GREET_NAME": "ada", "FASTAPI_CI_GREET_LOUD": "yes"}
    assert run(["greet"], env) == 2
    written = Path(env["GITHUB_STEP_SUMMARY"]).read_text()
    assert "Why: only the words YAML writes for a boolean count" in written
    assert "(docs/actions/README.md#what-every-action-guarantees)" in written


def test_every_invalid_input_is_reported_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    env = {"FASTAPI_CI_GREET_TIMES": "0", "FASTAPI_CI_GREET_MODE": "loud"}
    assert run(["greet"], env) == 2
    err = capsys.readouterr().err
    assert "input 'name': is required" in err
    assert "input 'times':" in err
    assert "input 'mode':" in err
    assert "'plain' or 'fancy'" in err


def test_list_values_that_look_like_flags_are_rejected(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        run(["greet"], {"FASTAPI_CI_GREET_NAME": "a", "FASTAPI_CI_GREET_EXTRA_ARGS": "ok --evil"})
        == 2
    )
    assert "input 'extra-args': values must not look like flags, got '--evil'" in (
        capsys.readouterr().err
    )


def test_secret_is_masked_before_any_other_line_and_never_echoed(
    github_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    env = {**github_env, "FASTAPI_CI_GREET_NAME": "ada", "FASTAPI_CI_GREET_TOKEN": "s3cr3t-value"}
    assert run(["greet"], env) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "::add-mask::s3cr3t-value"
    assert out.count("s3cr3t-value") == 1


def test_secret_is_not_masked_outside_github_where_that_would_print_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert (
        run(["greet"], {"FASTAPI_CI_GREET_NAME": "ada", "FASTAPI_CI_GREET_TOKEN": "s3cr3t-value"})
        == 0
    )
    captured = capsys.readouterr()
    assert "s3cr3t-value" not in captured.out + captured.err


def test_annotations_use_githubs_format_with_file_and_line(
    github_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["greet", "--name", "ada", "--times", "2"], github_env) == 0
    out = capsys.readouterr().out
    assert "::warning file=app/main.py,line=1::note 1" in out
    assert "::warning file=app/main.py,line=2::note 2" in out


def test_annotations_outside_github_read_like_compiler_output(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(["greet", "--name", "ada", "--times", "2"], {}) == 0
    assert "app/main.py:2: warning: note 2" in capsys.readouterr().err


def test_an_annotation_flood_is_capped(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["greet", "--name", "ada", "--times", "45"], {}) == 0
    captured = capsys.readouterr()
    assert captured.err.count(": warning: note") == 20
    assert "... and 25 more findings" in captured.out


def test_json_flag_prints_only_the_report_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["greet", "--name", "ada", "--json", "there"], {}) == 0
    report = json.loads(capsys.readouterr().out)
    assert report == {"greeting": "hello ada", "times": 1, "target": "there"}


def test_closed_gate_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["greet", "--name", "nobody"], {}) == 1


def test_check_failure_gives_one_error_line_and_diagnostics_in_summary(
    github_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["greet", "--name", "refuse"], github_env) == 1
    out = capsys.readouterr().out
    assert out.strip() == "::error title=greet::the greeting was refused"
    summary = Path(github_env["GITHUB_STEP_SUMMARY"]).read_text()
    assert "How to fix: ask nicely" in summary


def test_summary_false_holds_for_a_failure_too(
    github_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    env = {**github_env, "FASTAPI_CI_GREET_SUMMARY": "false"}
    assert run(["greet", "--name", "refuse"], env) == 1
    assert "the greeting was refused" in capsys.readouterr().out
    assert Path(env["GITHUB_STEP_SUMMARY"]).read_text() == ""


def test_unexpected_error_has_no_traceback_unless_debug(
    github_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["greet", "--name", "explode"], github_env) == 1
    out = capsys.readouterr().out
    assert "internal error: RuntimeError: boom" in out
    assert "Traceback" not in out
    assert run(["greet", "--name", "explode"], {**github_env, "RUNNER_DEBUG": "1"}) == 1
    assert "Traceback" in capsys.readouterr().out
    assert run(["greet", "--name", "explode", "--debug"], github_env) == 1
    assert "::group::traceback" in capsys.readouterr().out


def test_usage_error_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["greet", "--no-such-flag"], {}) == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments: --no-such-flag" in err
    assert "Traceback" not in err


def test_help_lists_the_registered_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run(["--help"], {})
    assert exit_info.value.code == 0
    assert "greet" in capsys.readouterr().out


def test_list_flags_are_split_and_checked_like_the_environment(
    github_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        run(["greet", "--name", "a", "--extra-args", "x 'y z'", "--extra-args", "w"], github_env)
        == 0
    )
    assert read_outputs(github_env["GITHUB_OUTPUT"])["args"] == "x\ny z\nw"
    assert run(["greet", "--name", "a", "--extra-args=--evil"], {}) == 2
    assert "values must not look like flags" in capsys.readouterr().err


@pytest.mark.parametrize(
    "hostile",
    [
        "::stop-commands::token",
        "  \t::add-mask::secret",
        "ok\n::error::injected",
        "ok\r::warning::after a bare CR",
        "ok\r\n::set-output name=x::y",
        "\u3000::notice::after an ideographic space",
        "prefix ##[add-mask]secret",
        "##[error]old syntax",
    ],
)
def test_escaped_log_text_has_no_line_the_runner_reads_as_a_command(hostile: str) -> None:
    escaped = escape_log_text(hostile)
    for line in escaped.splitlines():
        # What the runner does (.NET Trim, then "::" at the start; "##[" anywhere).
        assert not line.strip().startswith("::"), line
        assert "##[" not in line, line
    assert escaped.replace("\u200b", "").replace("\n", "") == hostile.replace("\r", "").replace(
        "\n", ""
    )  # it reads the same


def test_workflow_commands_escape_what_the_runner_unescapes() -> None:
    # The runner's rules: % CR LF in a message; also : and , in a property value.
    line = workflow_command("error", "50% done\r\nthen failed", file="a:b,c.py", line=3)
    assert line == "::error file=a%3Ab%2Cc.py,line=3::50%25 done%0D%0Athen failed"


def test_a_multiline_output_is_one_heredoc_with_a_fresh_delimiter(tmp_path: Path) -> None:
    first = prepare_key_value_message("report", "line 1\nline 2")
    second = prepare_key_value_message("report", "x")
    (tmp_path / "output").write_text(first + "\n")
    assert read_outputs(str(tmp_path / "output")) == {"report": "line 1\nline 2"}
    assert first.split("\n")[0] != second.split("\n")[0]  # a random delimiter each time


class PairInputs(ActionInputs):
    """Two inputs with a rule between them: `user` needs `password` (or $DEFAULT_PASSWORD)."""

    user: str | None = None
    password: str | None = Field(default=None, min_length=8)
    times: int = Field(default=1, ge=1)

    def cross_input_errors(self, env: Mapping[str, str]) -> list[InputError]:
        if self.user and not (self.password or env.get("DEFAULT_PASSWORD")):
            return [InputError("password", "is required with user", fix="give both")]
        return []


PAIR = Action(
    name="pair",
    help="A rule between inputs.",
    inputs=PairInputs,
    run=lambda _inputs, _console: ActionResult(passed=True, text="ran"),
)


def run_pair(env: dict[str, str]) -> tuple[int, list[str]]:
    stdout = io.StringIO()
    console = Console(env={"GITHUB_ACTIONS": "true", **env}, stdout=stdout, stderr=stdout)
    code = execute(PAIR, {}, console)
    return code, [line for line in stdout.getvalue().splitlines() if line.startswith("::error")]


def test_a_rule_between_inputs_is_reported_with_a_bad_field_each_on_its_own_line() -> None:
    code, errors = run_pair({"FASTAPI_CI_PAIR_USER": "ci", "FASTAPI_CI_PAIR_TIMES": "0"})
    assert code == 2
    assert len(errors) == 2, errors
    assert "input 'times':" in errors[0]
    assert errors[1] == "::error title=pair::input 'password': is required with user"


def test_a_rule_takes_its_default_from_the_environment_the_inputs_came_from() -> None:
    assert run_pair({"FASTAPI_CI_PAIR_USER": "ci", "DEFAULT_PASSWORD": "x" * 8}) == (0, [])


def test_a_bad_input_is_not_reported_again_by_a_rule() -> None:
    # The short password is left out before the rule runs, which would then miss it.
    code, errors = run_pair({"FASTAPI_CI_PAIR_USER": "ci", "FASTAPI_CI_PAIR_PASSWORD": "short"})
    assert code == 2
    assert len(errors) == 1, errors
    assert "input 'password': String should have at least 8 characters" in errors[0]


def test_a_model_built_in_code_checks_its_fields_only() -> None:
    assert PairInputs(user="ci").user == "ci"
