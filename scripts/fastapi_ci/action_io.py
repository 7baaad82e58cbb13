"""The I/O layer every action uses: inputs in, outputs, summary, annotations and exit code out.

An action is declared once (`Action`: a name, a pydantic inputs model, a run function) and
this module does the rest the same way for all of them:

* inputs come from CLI flags, else `FASTAPI_CI_<ACTION>_<INPUT>` (what `action.yml` passes
  through `env:`), else the model's default; all invalid inputs are reported at once, each
  naming the input, with exit code 2. `INPUT_*` variables are ignored on purpose: GitHub
  gives a composite action's steps none, and act does, so reading them would let a test
  under act pass for an input that never arrives on GitHub;
* secrets (`SecretStr` inputs) are masked with `::add-mask::` before anything else is printed;
* the result goes to `$GITHUB_OUTPUT`, `$GITHUB_STEP_SUMMARY` and workflow-command
  annotations on GitHub, to readable terminal text elsewhere, or to stdout as JSON (`--json`);
* errors become one `::error::` line and an exit code; a traceback only with `--debug`
  or `RUNNER_DEBUG=1`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import sys
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import (
    IO,
    TYPE_CHECKING,
    Any,
    Generic,
    Literal,
    Self,
    TypeVar,
    get_args,
    get_origin,
)

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    SecretStr,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from fastapi_ci.cancellation import Cancelled
from fastapi_ci.errors import (
    EXIT_BAD_INPUT,
    EXIT_CHECK_FAILED,
    EXIT_OK,
    FastapiCiError,
    InputError,
    InvalidInputs,
    docs_link,
)
from fastapi_ci.input_files import check_output_path

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

AnnotationLevel = Literal["error", "warning", "notice"]

# Annotations beyond this many per call are summarised in one line: GitHub shows at most
# 10 errors + 10 warnings per step anyway, and a flood drowns the log.
DEFAULT_ANNOTATION_CAP = 20
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a writer whose reader left


class ActionInputs(BaseModel):
    """Base of every action's inputs model. Field `foo_bar` is the input `foo-bar`.

    Mark a field positional on the CLI with `Field(json_schema_extra={"positional": True})`.
    Every text input is one line (no control characters) unless marked `"multiline": True`;
    an empty environment value means "unset" unless the field is marked
    `"empty_is_value": True` (action.yml gives it a non-empty default, so an empty value
    arrives only when the user wrote `''`). Numbers must be finite (`inf`, `nan`, `1e309`
    are refused).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    summary: bool = Field(default=True, description="Write a step summary on GitHub.")

    def cross_input_errors(self, env: Mapping[str, str]) -> list[InputError]:
        """What is wrong between inputs ("this one needs that one"), every problem at once.

        Override in an action's model. `env` is the environment the inputs were read from
        (a rule may accept a default from it, as `AWS_REGION`). Runs on the inputs that
        passed their own checks, so a bad input is not reported twice, and only when the
        model is validated with `context={"env": ...}` (as `load_inputs` does).
        """
        return []

    @model_validator(mode="wrap")
    @classmethod
    def _every_invalid_input_at_once(
        cls, data: Any, handler: ModelWrapValidatorHandler[Self], info: ValidationInfo
    ) -> Self:
        # Pydantic runs a model's "after" rules only when every field is valid: one bad
        # field would hide the rules between the others. So the rules run here, on the
        # fields that passed, and both kinds of error are raised together.
        # Without the environment the inputs were read from (a model built in code), only
        # the fields are checked: a rule may take a default from the environment.
        context = info.context if isinstance(info.context, dict) else {}
        if "env" not in context or not isinstance(data, dict):
            return handler(data)
        field_errors: list[InitErrorDetails] = []
        invalid: set[str] = set()
        try:
            valid: Self | None = handler(data)
        except ValidationError as error:
            field_errors = [_error_details(problem) for problem in error.errors()]
            invalid = {str(problem["loc"][0]) for problem in field_errors if problem["loc"]}
            valid = cls._from_valid_fields(data, invalid)
        env = context["env"]
        invalid_names = {input_name(name) for name in invalid}
        rules_broken = [
            rule_error
            for rule_error in ([] if valid is None else valid.cross_input_errors(env))
            if not invalid_names.intersection({rule_error.input_name, *rule_error.related})
        ]
        if not field_errors and not rules_broken:
            assert valid is not None
            return valid
        raise ValidationError.from_exception_data(
            cls.__name__,
            field_errors
            + [
                InitErrorDetails(
                    type=PydanticCustomError(
                        INPUT_ERROR, "{message}", {"message": e.message, "error": e}
                    ),
                    loc=(e.input_name,),
                    input=None,
                )
                for e in rules_broken
            ],
        )

    @classmethod
    def _from_valid_fields(cls, data: dict[str, Any], invalid: set[str]) -> Self | None:
        """The model without its invalid fields (defaults instead); None if one is required."""
        try:
            return cls.model_validate(
                {name: value for name, value in data.items() if name not in invalid},
                context={},  # the fields only: the rules run once, in the caller
            )
        except ValidationError:
            return None


# The error type of a rule between inputs; its ctx carries the InputError itself.
INPUT_ERROR = "fastapi_ci_input_error"


def _error_details(problem: Any) -> InitErrorDetails:
    """A pydantic error as the details it can be raised again from."""
    details = InitErrorDetails(type=problem["type"], loc=problem["loc"], input=problem["input"])
    if "ctx" in problem:
        details["ctx"] = problem["ctx"]
    return details


InputsT = TypeVar("InputsT", bound=ActionInputs)


class Annotation(BaseModel):
    """A finding shown on a file and line in the pull request (or as `file:line:` locally)."""

    level: AnnotationLevel
    message: str
    file: str | None = None
    line: int | None = None
    end_line: int | None = None
    col: int | None = None
    title: str | None = None

    def workflow_command(self) -> str:
        """This annotation as GitHub's `::error file=..,line=..,title=..::message` line."""
        return workflow_command(
            self.level,
            self.message,
            file=self.file,
            line=self.line,
            endLine=self.end_line,
            col=self.col,
            title=self.title,
        )


# The runner's escaping rules (as actions/toolkit's), here rather than from a package: the
# one that has them (actions-toolkit) brings PyGithub and cryptography, 20 MB that every
# action's install would restore for three one-line functions.
def escape_data(text: str) -> str:
    """A workflow command's message, escaped as the runner unescapes it."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value (`file=`, `title=`), escaped as the runner expects."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def prepare_key_value_message(key: str, value: str) -> str:
    """`key<<DELIMITER\nvalue\nDELIMITER` for $GITHUB_OUTPUT / $GITHUB_ENV, multiline-safe."""
    delimiter = f"ghadelimiter_{uuid.uuid4()}"
    if delimiter in key or delimiter in value:  # a collision with a random UUID: refuse
        raise ValueError(f"{key!r} or its value contains the delimiter {delimiter}")
    return f"{key}<<{delimiter}\n{value}\n{delimiter}"


def workflow_command(name: str, message: str, **properties: object) -> str:
    """A workflow command line (`::name k=v,k=v::message`), escaped as the runner expects.

    Properties that are None are left out.
    """
    props = ",".join(
        f"{key}={escape_property(str(value))}"
        for key, value in properties.items()
        if value is not None
    )
    return f"::{name}{' ' + props if props else ''}::{escape_data(message)}"


# The runner reads a line as a workflow command when it starts with "::" once trimmed
# (.NET's Trim: Unicode whitespace), and the old syntax "##[name]" anywhere in a line.
_COMMAND_AT_LINE_START = re.compile(r"^(\s*)::", re.MULTILINE)
_OLD_COMMAND = re.compile(r"##\[")
# U+200B ZERO WIDTH SPACE: not whitespace to .NET, invisible in the log, so the line reads
# the same and the runner sees text.
_BREAK = "\u200b"


def escape_log_text(text: str) -> str:
    """Text from outside (a service's answer, a tool's output, a user's value) made safe to
    print on a runner: no line of it can be read as a workflow command (`::add-mask::`,
    `::stop-commands::`, `::error::`, `##[...]`), yet it reads the same.

    Every line we print that is not one of our own commands goes through this (Console.info).
    """
    # A bare CR starts a new line for the runner too: make it one we can see and escape.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _COMMAND_AT_LINE_START.sub(lambda m: m.group(1) + _BREAK + "::", text)
    return _OLD_COMMAND.sub("#" + _BREAK + "#[", text)


class ActionResult(BaseModel):
    """What an action's run function returns; `passed=False` means exit code 1 (gate closed)."""

    passed: bool
    text: str = Field(description="Human-readable result for the terminal.")
    summary: str = Field(default="", description="Markdown for the step summary.")
    outputs: dict[str, str] = Field(default_factory=dict)
    report: dict[str, Any] = Field(default_factory=dict, description="What --json prints.")
    annotations: list[Annotation] = Field(default_factory=list)


def report_fields(
    record: DataclassInstance,
    *,
    rename: Mapping[str, str] | None = None,
    leave_out: Sequence[str] = (),
) -> dict[str, Any]:
    """A dataclass's fields as a JSON report's keys (`asdict`), some renamed or left out.

    One way for every report, so a field added to the record reaches the report.
    """
    names = rename or {}
    return {
        names.get(name, name): value
        for name, value in asdict(record).items()
        if name not in leave_out
    }


def markdown_cell(text: str) -> str:
    """Text made safe inside a markdown table cell (a `|` or a newline would break the row)."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", "").replace("\n", "<br>")


def input_name(field_name: str) -> str:
    """The kebab-case input name of a model field."""
    return field_name.replace("_", "-")


@dataclass
class Console:
    """Where an action writes: the environment, stdout/stderr, and GitHub's files.

    Everything is injected, so tests pass a dict and StringIO instead of the process's own.
    """

    env: Mapping[str, str]
    stdout: IO[str] = field(default_factory=lambda: sys.stdout)
    stderr: IO[str] = field(default_factory=lambda: sys.stderr)
    debug_enabled: bool = False
    json_mode: bool = False

    @property
    def on_github(self) -> bool:
        """True inside a GitHub Actions (or act) step: speak workflow commands."""
        return self.env.get("GITHUB_ACTIONS") == "true"

    @property
    def log(self) -> IO[str]:
        """Human log lines go to stderr under --json so stdout stays pure JSON."""
        return self.stderr if self.json_mode else self.stdout

    def command(self, name: str, message: str, **properties: object) -> None:
        """Print a workflow command (`::name k=v::message`), escaped as the runner expects."""
        self.log.write(workflow_command(name, message, **properties) + "\n")

    def info(self, message: str) -> None:
        """A plain log line (on a runner: escaped, never read as a workflow command)."""
        self.log.write((escape_log_text(message) if self.on_github else message) + "\n")

    def debug(self, message: str) -> None:
        """Shown only in debug mode (`--debug` or `RUNNER_DEBUG=1`)."""
        if not self.debug_enabled:
            return
        if self.on_github:
            self.command("debug", message)
        else:
            self.stderr.write(f"debug: {message}\n")

    def warning(self, message: str, title: str | None = None) -> None:
        """A nudge that does not fail the step."""
        self.annotate(Annotation(level="warning", message=message, title=title))

    def error(self, message: str, title: str | None = None) -> None:
        """One error line: `::error title=..::msg` on GitHub, `error: msg` on a terminal."""
        self.annotate(Annotation(level="error", message=message, title=title))

    def mask(self, secret: str) -> None:
        """Register a secret with the runner so it is replaced by *** in every log line.

        Only on GitHub: elsewhere `::add-mask::` would print the secret itself.
        """
        if self.on_github and secret:
            self.command("add-mask", secret)

    def annotate(self, annotation: Annotation) -> None:
        """Print one annotation in GitHub's format, or as `file:line: level: message`."""
        if self.on_github:
            self.log.write(annotation.workflow_command() + "\n")
            return
        where = annotation.file or ""
        if annotation.file and annotation.line:
            where += f":{annotation.line}" + (f":{annotation.col}" if annotation.col else "")
        prefix = f"{where}: " if where else ""
        title = f"[{annotation.title}] " if annotation.title else ""
        self.stderr.write(f"{prefix}{annotation.level}: {title}{annotation.message}\n")

    def annotate_all(
        self, annotations: Sequence[Annotation], cap: int = DEFAULT_ANNOTATION_CAP
    ) -> None:
        """Print annotations, at most `cap` of them, then one line saying how many were left."""
        for annotation in annotations[:cap]:
            self.annotate(annotation)
        if len(annotations) > cap:
            self.info(f"... and {len(annotations) - cap} more findings (see the full report)")

    @contextmanager
    def group(self, title: str) -> Iterator[None]:
        """A collapsible log group on GitHub; a heading line elsewhere."""
        if self.on_github:
            self.command("group", title)
        else:
            self.info(f"── {title}")
        try:
            yield
        finally:
            if self.on_github:
                self.command("endgroup", "")

    def set_output(self, name: str, value: str) -> None:
        """Append one output to `$GITHUB_OUTPUT` (random heredoc delimiter: multiline-safe)."""
        self._append_file("GITHUB_OUTPUT", prepare_key_value_message(name, value) + "\n")

    def append_summary(self, markdown: str) -> None:
        """Append markdown to `$GITHUB_STEP_SUMMARY`."""
        self._append_file("GITHUB_STEP_SUMMARY", markdown.rstrip("\n") + "\n\n")

    def write_report(self, action: str, report: str, path: str | None = None) -> Path | None:
        """Write an action's JSON report; return where it went (the `report-path` output).

        Default on a runner: `$RUNNER_TEMP/fastapi-ci/<action>.json`, kept for later steps of
        the job (an upload, a comment). Elsewhere only when a path is given: `--json` prints it.
        """
        if path:
            target = Path(path)
        elif self.env.get("RUNNER_TEMP"):
            target = Path(self.env["RUNNER_TEMP"]) / "fastapi-ci" / f"{action}.json"
        else:
            return None
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(report, encoding="utf-8")
        except OSError as error:
            raise InputError(
                "report-path",
                f"cannot write {target}: {error.strerror}",
                docs="actions#what-every-action-guarantees",
            ) from None
        return target

    def _append_file(self, variable: str, text: str) -> bool:
        path = self.env.get(variable)
        if not path:
            return False
        with Path(path).open("a", encoding="utf-8") as handle:
            handle.write(text)
        return True


@dataclass(frozen=True)
class Action(Generic[InputsT]):
    """One action = one CLI subcommand = one `FASTAPI_CI_<NAME>_*` environment prefix."""

    name: str
    help: str
    inputs: type[InputsT]
    run: Callable[[InputsT, Console], ActionResult]
    # Outputs written when the action ends in an error (bad input included), so a later
    # step never reads an unset output as a value (wait-stable's rolled-back: "false").
    error_outputs: Mapping[str, str] = field(default_factory=dict)

    @property
    def env_prefix(self) -> str:
        """`schema-guard` reads `FASTAPI_CI_SCHEMA_GUARD_<INPUT>`."""
        return "FASTAPI_CI_" + self.name.upper().replace("-", "_") + "_"


# --- reading inputs -------------------------------------------------------------------------


def _is_bool(annotation: Any) -> bool:
    args = get_args(annotation)
    return annotation is bool or (bool in args and type(None) in args)


def _is_list(annotation: Any) -> bool:
    return get_origin(annotation) is list or any(
        get_origin(a) is list for a in get_args(annotation)
    )


def _has_flag(model: type[ActionInputs], name: str, flag: str) -> bool:
    extra = model.model_fields[name].json_schema_extra
    return isinstance(extra, dict) and extra.get(flag) is True


def _is_positional(model: type[ActionInputs], name: str) -> bool:
    return _has_flag(model, name, "positional")


# An input is a name, a URL, a command: far below these. A megabyte in one is a mistake (or
# an attack on every log line that quotes it).
MAX_ONE_LINE_INPUT = 8192
MAX_MULTILINE_INPUT = 256 * 1024
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_MULTILINE_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def check_text(name: str, value: str, *, multiline: bool = False, secret: bool = False) -> None:
    """Raise InputError when `value` is not valid UTF-8 or holds control characters.

    Non-UTF-8 bytes reach Python as lone surrogates (os.environ's surrogateescape); a
    newline in a one-line input (a URL, a name) could only be a mistake or an attack.
    """
    shown = "" if secret else f", got {_shorten(value)!r}"
    limit = MAX_MULTILINE_INPUT if multiline else MAX_ONE_LINE_INPUT
    if len(value) > limit:
        raise InputError(
            input_name(name),
            f"is {len(value)} characters long; at most {limit}",
            docs="actions#what-every-action-guarantees",
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(
            input_name(name),
            f"is not valid UTF-8{shown}",
            docs="actions#what-every-action-guarantees",
        ) from None
    pattern = _MULTILINE_CONTROL_CHARACTERS if multiline else _CONTROL_CHARACTERS
    if pattern.search(value):
        what = "control characters" if multiline else "a newline or control characters"
        raise InputError(
            input_name(name),
            f"must not contain {what}{shown}",
            docs="actions#what-every-action-guarantees",
        )


def _shorten(value: str, limit: int = 80) -> str:
    return value if len(value) <= limit else value[:limit] + f"... ({len(value)} characters)"


def _parse_env_value(model: type[ActionInputs], name: str, raw: str) -> object:
    """Turn one environment string into what the model field expects, or raise InputError."""
    annotation = model.model_fields[name].annotation
    if _is_bool(annotation):
        # Exactly what YAML writes for `true`/`false`; "yes" or "1" is more likely a typo.
        if raw not in ("true", "false"):
            raise InputError(
                input_name(name),
                f"expected 'true' or 'false', got {raw!r}",
                why="only the words YAML writes for a boolean count: a typo is never read as false",
                docs="actions#what-every-action-guarantees",
            )
        return raw == "true"
    if _is_list(annotation):
        try:
            items = shlex.split(raw)
        except ValueError as exc:
            raise InputError(
                input_name(name),
                f"cannot split {raw!r}: {exc}",
                docs="actions#what-every-action-guarantees",
            ) from None
        flag_like = [item for item in items if item.startswith("-")]
        if flag_like:
            raise InputError(
                input_name(name),
                f"values must not look like flags, got {flag_like[0]!r}",
                why="an item that looks like a flag could change what a tool the action runs does",
                docs="actions#what-every-action-guarantees",
            )
        return items
    return raw


def _env_raw_value(action: Action[Any], name: str, env: Mapping[str, str]) -> str | None:
    """`FASTAPI_CI_<ACTION>_<INPUT>`, unless empty (an unset action input arrives as "").

    For an `empty_is_value` input, a set but empty variable is the value "".
    """
    key = action.env_prefix + name.upper()
    value = env.get(key, "").strip()
    if not value and key in env and _has_flag(action.inputs, name, "empty_is_value"):
        return ""
    return value or None


def _is_secret(annotation: Any) -> bool:
    return annotation is SecretStr or SecretStr in get_args(annotation)


def load_inputs(
    action: Action[InputsT],
    cli_values: Mapping[str, object],
    env: Mapping[str, str],
    mask: Callable[[str], None] = lambda _secret: None,
) -> InputsT:
    """Build the action's inputs model, reporting every invalid input at once.

    Secret inputs are passed to `mask` before validation, so no later line (not even an
    error about them) can show them.
    """
    errors: list[InputError] = []
    raw: dict[str, object] = {}
    secret_fields = {
        name for name, info in action.inputs.model_fields.items() if _is_secret(info.annotation)
    }
    for name in action.inputs.model_fields:
        value: object = cli_values.get(name)
        if isinstance(value, list):
            # A repeated list flag reads like the input's lines: split and checked the same way.
            value = "\n".join(value)
        if value == "" and not _has_flag(action.inputs, name, "empty_is_value"):
            value = None  # `--flag ''` means what an empty FASTAPI_CI_* variable means: unset
        if value is None:
            value = _env_raw_value(action, name, env)
            if value is None:
                continue
        if isinstance(value, str):
            try:
                check_text(
                    name,
                    value,
                    multiline=_has_flag(action.inputs, name, "multiline")
                    or _is_list(action.inputs.model_fields[name].annotation),
                    secret=name in secret_fields,
                )
                value = _parse_env_value(action.inputs, name, value)
            except InputError as exc:
                errors.append(exc)
                continue
        if name in secret_fields:
            mask(str(value))
        raw[name] = value
    try:
        inputs = action.inputs.model_validate(raw, context={"env": env})
    except ValidationError as exc:
        already_reported = {error.input_name for error in errors}
        for problem in exc.errors():
            location = problem["loc"][0] if problem["loc"] else ""
            if input_name(str(location)) in already_reported:
                continue  # its text was refused above: "is required" would say it twice
            if problem["type"] == INPUT_ERROR:
                rule_error = problem["ctx"]["error"]  # a rule between inputs, as it was raised
                if not already_reported.intersection(rule_error.related):
                    errors.append(rule_error)  # else it judged a refused input's default
                continue
            if problem["type"] == "missing":
                message = "is required"
            elif location in secret_fields:
                message = problem["msg"]
            else:
                message = f"{problem['msg']} (got {problem.get('input')!r})"
            errors.append(
                InputError(
                    input_name(str(location)), message, docs="actions#what-every-action-guarantees"
                )
            )
        inputs = None
    if errors:
        raise InvalidInputs(errors)
    assert inputs is not None
    return inputs


def check_output_paths(inputs: ActionInputs) -> None:
    """Fail now, not after the work, when a path the action will write cannot be written.

    `report-path` of every action, and any input marked `"output_path": True`.
    """
    model = type(inputs)
    for name in model.model_fields:
        if name == "report_path" or _has_flag(model, name, "output_path"):
            value = getattr(inputs, name)
            if value:
                check_output_path(value, input_name(name))


# --- the command line -------------------------------------------------------------------------


class _ArgumentParser(argparse.ArgumentParser):
    """argparse that reports usage errors as our exit code 2 line, not its own format."""

    def error(self, message: str) -> Any:  # argparse declares NoReturn
        raise InputError(
            "command line",
            message,
            fix=f"see `{self.prog} --help`",
            docs="actions#what-every-action-guarantees",
        )


def _add_action_arguments(parser: argparse.ArgumentParser, model: type[ActionInputs]) -> None:
    for name, info in model.model_fields.items():
        help_text = info.description or ""
        if _is_positional(model, name):
            parser.add_argument(name, metavar=name.upper(), nargs="?", help=help_text)
        elif _is_bool(info.annotation):
            parser.add_argument(
                f"--{input_name(name)}",
                dest=name,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=help_text,
            )
        elif _is_list(info.annotation):
            parser.add_argument(
                f"--{input_name(name)}", dest=name, action="append", default=None, help=help_text
            )
        else:
            parser.add_argument(f"--{input_name(name)}", dest=name, default=None, help=help_text)


def build_parser(actions: Sequence[Action[Any]], version: str) -> argparse.ArgumentParser:
    """One subcommand per action; flags generated from each inputs model."""
    parser = _ArgumentParser(
        prog="fastapi-ci",
        description="Ship a FastAPI service safely: the checks behind the fastapi-ci actions.",
    )
    parser.add_argument("--version", action="version", version=f"fastapi-ci {version}")
    subparsers = parser.add_subparsers(
        dest="action", metavar="COMMAND", parser_class=_ArgumentParser
    )
    for action in actions:
        sub = subparsers.add_parser(action.name, help=action.help, description=action.help)
        _add_action_arguments(sub, action.inputs)
        sub.add_argument("--json", action="store_true", help="Print the report as JSON.")
        sub.add_argument("--debug", action="store_true", help="Show debug lines and tracebacks.")
    return parser


# --- running an action ----------------------------------------------------------------------


def _publish(inputs: ActionInputs, result: ActionResult, console: Console) -> None:
    for name, value in result.outputs.items():
        console.set_output(name, value)
    if console.json_mode:
        console.stdout.write(json.dumps(result.report, indent=2, sort_keys=True) + "\n")
    else:
        console.info(result.text.rstrip("\n"))
    if result.outputs and not console.env.get("GITHUB_OUTPUT"):
        console.debug("outputs: " + " ".join(f"{k}={v}" for k, v in result.outputs.items()))
    console.annotate_all(result.annotations)
    if inputs.summary and result.summary:
        console.append_summary(result.summary)


def _report_error(
    action: Action[Any], error: FastapiCiError, console: Console, summary: bool
) -> int:
    # One line per invalid input, so each is an annotation of its own on GitHub.
    each_error = error.errors if isinstance(error, InvalidInputs) else [error]
    for each in each_error:
        console.error(each.message, title=action.name)
    if summary and (error.exit_code != EXIT_BAD_INPUT or _explains(each_error)):
        console.append_summary(f"### ❌ {action.name}\n\n{error.diagnostics(console.env)}")
    for each in each_error:
        if each.fix and not console.on_github:
            console.stderr.write(f"hint: {each.fix}\n")
        if each.docs and not console.on_github:
            console.stderr.write(f"docs: {docs_link(each.docs, console.env)}\n")
    return error.exit_code


def _explains(errors: Sequence[FastapiCiError]) -> bool:
    """True when an error says more than its `::error::` line: why, a fix, or its docs."""
    return any(error.why or error.fix or error.docs for error in errors)


def execute(action: Action[Any], cli_values: Mapping[str, object], console: Console) -> int:
    """Load inputs, run the action, publish the result; return the exit code."""
    result: ActionResult | None = None
    try:
        code, result = _execute(action, cli_values, console)
    finally:
        if result is None:
            for name, value in action.error_outputs.items():
                console.set_output(name, value)
    return code


def _execute(
    action: Action[Any], cli_values: Mapping[str, object], console: Console
) -> tuple[int, ActionResult | None]:
    inputs: ActionInputs | None = None
    try:
        inputs = load_inputs(action, cli_values, console.env, mask=console.mask)
        check_output_paths(inputs)
        result = action.run(inputs, console)
        _publish(inputs, result, console)
        return (EXIT_OK if result.passed else EXIT_CHECK_FAILED), result
    except FastapiCiError as error:
        # `summary: false` holds for a failure too; inputs that failed to load mean exit 2,
        # which writes no summary anyway.
        code = _report_error(action, error, console, summary=inputs is None or inputs.summary)
        return code, None
    except (KeyboardInterrupt, Cancelled) as error:
        console.error(f"cancelled ({getattr(error, 'signal_name', 'SIGINT')})", title=action.name)
        return 130, None
    except BrokenPipeError:
        raise
    except Exception as error:  # the last line of defence: no raw traceback
        console.error(
            f"internal error: {type(error).__name__}: {error}"
            + ("" if console.debug_enabled else " (rerun with --debug for the traceback)"),
            title=action.name,
        )
        if console.debug_enabled:
            with console.group("traceback"):
                console.info(traceback.format_exc())
        return EXIT_CHECK_FAILED, None


def main_for(
    actions: Sequence[Action[Any]],
    version: str,
    argv: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> int:
    """Parse the command line and run the chosen action (the `fastapi-ci` entry point)."""
    environment = dict(os.environ) if env is None else env
    console = Console(env=environment, debug_enabled=environment.get("RUNNER_DEBUG") == "1")
    parser = build_parser(actions, version)
    try:
        namespace = parser.parse_args(argv)
    except InputError as error:
        console.error(error.message, title="fastapi-ci")
        console.stderr.write(f"hint: {error.fix}\n")
        return EXIT_BAD_INPUT
    if namespace.action is None:
        parser.print_help(console.stdout)
        return EXIT_BAD_INPUT
    chosen = next(action for action in actions if action.name == namespace.action)
    values = vars(namespace)
    console.json_mode = bool(values.pop("json"))
    console.debug_enabled = console.debug_enabled or bool(values.pop("debug"))
    values.pop("action")
    try:
        return execute(chosen, values, console)
    except BrokenPipeError:
        # `fastapi-ci ... | head`: the reader left; stop quietly, as a shell tool would.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
