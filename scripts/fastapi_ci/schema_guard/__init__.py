"""schema-guard: compare OpenAPI documents semantically and report what would break clients.

Three subcommands share the engine (`diff`) and the report (`report`):

* `schema-export` writes an app's OpenAPI document deterministically (the golden file);
* `schema-guard` exports the app and compares it with the committed golden file;
* `schema-diff` compares two OpenAPI files (JSON or YAML, 3.0 or 3.1).
"""

from __future__ import annotations

import contextlib
import gc
import os
import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from fastapi_ci.action_io import Action, ActionInputs, ActionResult, Annotation, Console
from fastapi_ci.errors import InputError
from fastapi_ci.input_files import read_text_file
from fastapi_ci.openapi_document import dump_document, load_document
from fastapi_ci.schema_guard._refs import reference_problem
from fastapi_ci.schema_guard._schema import SchemaInputError
from fastapi_ci.schema_guard.diff import diff_documents, looks_exported_from_fastapi
from fastapi_ci.schema_guard.export import APP_TARGET, export_openapi
from fastapi_ci.schema_guard.policy import Policy, PolicyOutcome
from fastapi_ci.schema_guard.report import (
    LEVEL_ORDER,
    DiffReport,
    change_annotations,
    render_markdown,
    render_text,
    status_line,
)

# The last three: what init, the composition above schema-export, builds on.
__all__ = [
    "APP_TARGET",
    "SCHEMA_DIFF",
    "SCHEMA_EXPORT",
    "SCHEMA_GUARD",
    "export_openapi",
    "write_atomically",
]

FailOn = Literal["error", "warning", "never"]
Semantics = Literal["auto", "fastapi", "openapi"]
# GitHub refuses a step summary over 1 MiB; a few hundred rows stay far below that.
SUMMARY_MAX_ROWS = 300


def _app_target(value: str) -> str:
    if not APP_TARGET.match(value):
        raise ValueError("expected MODULE:ATTRIBUTE such as app.main:app")
    return value


AppTarget = Annotated[
    str,
    AfterValidator(_app_target),
    Field(description="The FastAPI application to import, as MODULE:ATTRIBUTE (app.main:app)."),
]
AppDir = Annotated[str, Field(description="The directory the app's module is imported from.")]
Interpreter = Annotated[
    str | None,
    Field(
        description="The interpreter that can import the app "
        "(default: APP_DIR/.venv/bin/python, else `python` on PATH)."
    ),
]
FailOnLevel = Annotated[
    FailOn,
    Field(description="Fail when a change reaches this level: error (breaking), warning, never."),
]
ResponseSemantics = Annotated[
    Semantics,
    Field(
        description="How responses are read: fastapi (every response-model field is sent, so "
        "removing one with a default breaks clients), openapi (only required fields are "
        "promised; for hand-written specs), or auto (fastapi for an app's export, or a "
        "document with FastAPI's HTTPValidationError schema)."
    ),
]
SeverityLevelsFile = Annotated[
    str | None,
    Field(
        description="A file of `RULE-ID LEVEL` lines (error, warning, info, none) that "
        "overrides the level of those rules (oasdiff's format)."
    ),
]
IgnoreFile = Annotated[
    str | None,
    Field(
        description="A YAML list of {fingerprint, reason, expires} for changes accepted on "
        "purpose; an entry past its expiry date fails the check."
    ),
]


@contextlib.contextmanager
def garbage_collection_paused() -> Iterator[None]:
    """Pause Python's cycle collector while documents are parsed and compared.

    A parsed document is millions of acyclic dicts and lists: the collector would scan
    them again at every threshold, which made the time grow faster than the document
    (30% over linear at 8x Stripe). Nothing here creates cycles worth collecting.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def compare_documents(
    base: dict[str, Any],
    revision: dict[str, Any],
    *,
    inputs: tuple[str, str],
    semantics: Semantics,
    exported_by_fastapi: bool = False,
    policy: Policy | None = None,
) -> tuple[DiffReport, PolicyOutcome]:
    """Check both documents' refs, diff them, apply the policy, and build the report.

    `inputs` names the base and revision inputs, for a bad document's error line.
    """
    for document, input_name in zip((base, revision), inputs, strict=True):
        problem = reference_problem(document)
        if problem is not None:
            raise InputError(input_name, problem)
    fastapi = semantics == "fastapi" or (
        semantics == "auto" and (exported_by_fastapi or looks_exported_from_fastapi(base))
    )
    try:
        changes = diff_documents(base, revision, fastapi=fastapi)
    except SchemaInputError as error:
        raise InputError(inputs[0] if error.side == "base" else inputs[1], str(error)) from None
    outcome = (policy or Policy()).apply(changes, date.today())
    return DiffReport.from_changes(outcome.changes), outcome


def policy_notes(outcome: PolicyOutcome, ignore_file: str | None) -> tuple[str, ...]:
    """What the policy did, for the text and the summary; expired entries first."""
    notes = [
        f"❌ {ignore_file}: the ignore of {i.fingerprint} ({i.reason}) expired on "
        f"{i.expires}: fix the change or renew the entry."
        for i in outcome.expired
    ]
    if outcome.ignored:
        notes.append(f"{len(outcome.ignored)} changes ignored on purpose ({ignore_file}).")
    return tuple(notes)


def gate_is_closed(report: DiffReport, fail_on: FailOn) -> bool:
    """True when some change is at least as severe as `fail_on`."""
    if fail_on == "never":
        return False
    threshold = LEVEL_ORDER[fail_on]
    return any(LEVEL_ORDER[change.level] <= threshold for change in report.changes)


def _mode_for(path: Path) -> int:
    """The permissions `path` keeps (its own when it exists), else those of a file created
    the ordinary way (0666 less the umask: 0644 usually). The temporary file a write goes
    through is private (0600): without this, a golden file committed from it would be too."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0o022)  # reading the umask means setting it: put it straight back
        os.umask(umask)
        return 0o666 & ~umask


def write_atomically(path: Path, text: str, input_name: str) -> None:
    """Replace `path` in one step, so an interrupted write never leaves half a golden file."""
    temporary: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = _mode_for(path)
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", delete=False
        ) as handle:
            temporary = handle.name
            handle.write(text)
        os.chmod(handle.name, mode)
        os.replace(handle.name, path)
        temporary = None
    except OSError as error:
        raise InputError(input_name, f"cannot write {path}: {error.strerror}") from None
    finally:
        if temporary is not None:  # a failed write leaves no `.openapi.json.xyz` behind
            with contextlib.suppress(OSError):
                os.unlink(temporary)


def _diff_result(
    action: str,
    report: DiffReport,
    fail_on: FailOn,
    console: Console,
    *,
    annotations: list[Annotation],
    report_path: str | None = None,
    notes: tuple[str, ...] = (),
    expired_ignores: bool = False,
) -> ActionResult:
    """The common result of schema-guard and schema-diff: gate, outputs, summary, report.

    Annotations are for a runner only: on a terminal the text report already lists every
    change, and repeating each as a `file: error:` line would only double the output.
    """
    written = console.write_report(action, report.model_dump_json(indent=2) + "\n", report_path)
    closed = gate_is_closed(report, fail_on)
    verdict = f"gate closed: changes reach --fail-on={fail_on}" if closed else "gate open"
    if expired_ignores:
        closed, verdict = True, "gate closed: an ignore entry expired"
    summary = render_markdown(report, max_rows=SUMMARY_MAX_ROWS)
    return ActionResult(
        passed=not closed,
        text="\n".join([render_text(report).rstrip("\n"), *notes, verdict]),
        summary="\n\n".join([summary.rstrip("\n"), *notes]),
        outputs={
            "breaking": "true" if report.breaking else "false",
            "changes-count": str(len(report.changes)),
            "report-path": str(written or ""),
        },
        report=report.model_dump(mode="json"),
        annotations=annotations if console.on_github else [],
    )


# --- schema-export ------------------------------------------------------------------------------


class SchemaExportInputs(ActionInputs):
    """Inputs of `fastapi-ci schema-export`."""

    app: AppTarget
    app_dir: AppDir = "."
    output: str | None = Field(
        default=None,
        description="Write the document here (default: print it).",
        json_schema_extra={"output_path": True},
    )
    python: Interpreter = None


def run_schema_export(inputs: SchemaExportInputs, console: Console) -> ActionResult:
    """Export the app's OpenAPI document, deterministically formatted."""
    document = export_openapi(inputs.app, Path(inputs.app_dir), inputs.python)
    text = dump_document(document)
    if inputs.output is None:
        return ActionResult(passed=True, text=text, report=document)
    write_atomically(Path(inputs.output), text, "output")
    operations = sum(len(item) for item in document.get("paths", {}).values())
    return ActionResult(
        passed=True,
        text=f"wrote {inputs.output}: {len(document.get('paths', {}))} paths, "
        f"{operations} path entries",
        outputs={"path": inputs.output},
        report={"path": inputs.output},
    )


# --- schema-guard -------------------------------------------------------------------------------


class SchemaGuardInputs(ActionInputs):
    """Inputs of `actions/schema-guard/action.yml` and `fastapi-ci schema-guard`."""

    app: AppTarget
    golden: str = Field(
        default="openapi.json",
        description="The committed golden OpenAPI file (relative to the working directory).",
    )
    app_dir: AppDir = "."
    update: bool = Field(
        default=False, description="Rewrite the golden file with the app's schema."
    )
    fail_on: FailOnLevel = "error"
    python: Interpreter = None
    report_path: str | None = Field(default=None, description="Where to write the JSON report.")
    semantics: ResponseSemantics = "auto"
    severity_levels: SeverityLevelsFile = None
    ignore_file: IgnoreFile = None


def run_schema_guard(inputs: SchemaGuardInputs, console: Console) -> ActionResult:
    """Export the app, compare it with the golden file, and gate on the most severe change."""
    golden = Path(inputs.golden)
    current = export_openapi(inputs.app, Path(inputs.app_dir), inputs.python)
    current_text = dump_document(current)
    if not golden.exists():
        if not inputs.update:
            raise InputError(
                "golden",
                f"{golden} does not exist",
                why="schema-guard compares the app's schema with the committed golden file; "
                "without one, no change can be seen",
                fix="create it with `fastapi-ci schema-guard --update ...` and commit it",
                docs="schema-guard#schema-guard",
            )
        write_atomically(golden, current_text, "golden")
        return ActionResult(
            passed=True,
            text=f"created the golden file {golden}",
            outputs={"breaking": "false", "changes-count": "0", "updated": "true"},
        )
    golden_text = read_text_file(golden, "golden")
    with garbage_collection_paused():
        report, outcome = compare_documents(
            load_document(golden, input_name="golden"),
            current,
            inputs=("golden", "app"),
            semantics=inputs.semantics,
            exported_by_fastapi=True,
            policy=Policy.load(inputs.severity_levels, inputs.ignore_file),
        )
    notes = policy_notes(outcome, inputs.ignore_file)
    out_of_date = golden_text != current_text
    if inputs.update and out_of_date:
        write_atomically(golden, current_text, "golden")
        notes = (f"Updated {golden}: review the changes above and commit it.", *notes)
    elif out_of_date:
        notes = (
            f"{golden} is out of date with the app: after review, run "
            "`fastapi-ci schema-guard --update` and commit it.",
            *notes,
        )
    result = _diff_result(
        "schema-guard",
        report,
        "never" if inputs.update else inputs.fail_on,
        console,
        annotations=change_annotations(report, str(golden), golden_text=golden_text),
        report_path=inputs.report_path,
        notes=notes,
        expired_ignores=bool(outcome.expired) and not inputs.update,
    )
    result.outputs["updated"] = "true" if inputs.update and out_of_date else "false"
    if out_of_date and not inputs.update and console.on_github:
        result.annotations.append(
            Annotation(level="warning", message=notes[0], file=str(golden), title="schema-guard")
        )
    return result


# --- schema-diff --------------------------------------------------------------------------------


class SchemaDiffInputs(ActionInputs):
    """Inputs of `fastapi-ci schema-diff BASE REVISION`."""

    base: str = Field(
        description="The older OpenAPI document.", json_schema_extra={"positional": True}
    )
    revision: str = Field(
        description="The newer OpenAPI document.", json_schema_extra={"positional": True}
    )
    format: Literal["text", "json", "markdown", "github"] = Field(
        default="text", description="How to print the report."
    )
    fail_on: FailOnLevel = "error"
    report_path: str | None = Field(default=None, description="Where to write the JSON report.")
    semantics: ResponseSemantics = "auto"
    severity_levels: SeverityLevelsFile = None
    ignore_file: IgnoreFile = None


def run_schema_diff(inputs: SchemaDiffInputs, console: Console) -> ActionResult:
    """Compare two OpenAPI files and print the report in the chosen format."""
    with garbage_collection_paused():
        base = load_document(Path(inputs.base), input_name="base")
        revision = load_document(Path(inputs.revision), input_name="revision")
        report, outcome = compare_documents(
            base,
            revision,
            inputs=("base", "revision"),
            semantics=inputs.semantics,
            policy=Policy.load(inputs.severity_levels, inputs.ignore_file),
        )
    annotations = change_annotations(report, inputs.revision)
    result = _diff_result(
        "schema-diff",
        report,
        inputs.fail_on,
        console,
        annotations=annotations,
        report_path=inputs.report_path,
        notes=policy_notes(outcome, inputs.ignore_file),
        expired_ignores=bool(outcome.expired),
    )
    if inputs.format == "json":
        result.text = report.model_dump_json(indent=2)
    elif inputs.format == "markdown":
        result.text = result.summary
    elif inputs.format == "github":
        # Annotations in GitHub's format even off a runner (to feed a runner's log later).
        result.text = "\n".join([status_line(report), *(a.workflow_command() for a in annotations)])
        result.annotations = []
    return result


SCHEMA_EXPORT = Action(
    name="schema-export",
    help="Write a FastAPI app's OpenAPI document deterministically (for the golden file).",
    inputs=SchemaExportInputs,
    run=run_schema_export,
)
SCHEMA_GUARD = Action(
    name="schema-guard",
    help="Compare the app's OpenAPI document with the committed golden file; fail on "
    "breaking changes.",
    inputs=SchemaGuardInputs,
    run=run_schema_guard,
)
SCHEMA_DIFF = Action(
    name="schema-diff",
    help="Compare two OpenAPI documents (JSON or YAML, 3.0 or 3.1) and report breaking changes.",
    inputs=SchemaDiffInputs,
    run=run_schema_diff,
)
