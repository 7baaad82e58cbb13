"""migration-lint: refuse new alembic revisions that would break the running release (N-1).

No SQL linter is written here. The new revisions are rendered to SQL offline by the
project's own alembic (`upgrade SINCE:heads --sql`, PostgreSQL dialect), squawk lints each
revision's SQL as a file of its own (as it would run: a table an earlier revision created is
an existing, maybe busy, table; in one stream squawk would take it as new and stay silent,
so no finding depends on how many revisions are linted together), and each finding is
traced back to the revision file and the line of the `op.` call that wrote it
(`_alembic_probe.py` records, for every write of SQL, which revision line was executing).
Two more checks: a single head, and `alembic check` (models vs migrations) on a throwaway
database that the probe proves env.py really connected to (see
`_alembic_probe.ConnectionGuard`); when that cannot be guaranteed the drift check is
skipped with a warning and the reason, and squawk's findings stand.

An opt-out is explicit and per statement, on the `op.` line or in the comment lines right
above it, and must give a reason, which the summary shows::

    # migration-lint: allow ban-drop-column -- unused since release 41 (#123)
    op.drop_column("items", "legacy_code")
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from fastapi_ci.action_io import ActionInputs, ActionResult, Annotation, Console, markdown_cell
from fastapi_ci.errors import CheckFailed, InputError
from fastapi_ci.project_python import find_project_python
from fastapi_ci.step_summary import summary_from_template

_PROBE_SCRIPT = Path(__file__).with_name("_alembic_probe.py")
PROBE_TIMEOUT_SECONDS = 300
# `_alembic_probe.EXIT_UNKNOWN_SINCE` (the probe runs in the project's interpreter, and
# imports alembic: it is not imported here).
PROBE_EXIT_UNKNOWN_SINCE = 4
PROBE_EXIT_TARGET_REFUSED = 5
SQUAWK_TIMEOUT_SECONDS = 120
# Rendering never connects; the URL only picks the PostgreSQL dialect squawk understands.
DEFAULT_RENDER_URL = "postgresql://migration-lint@localhost/migration-lint"

# What breaks the previous release's code, or locks a busy table, and what to do instead.
N_MINUS_ONE_ADVICE = {
    "ban-drop-column": "the previous release still reads and writes it: stop using it in "
    "one release, drop it in the next (expand/contract)",
    "ban-drop-table": "the previous release still queries it: drop it a release after the "
    "code stops using it",
    "renaming-column": "the previous release still uses the old name: add the new column, "
    "write both, backfill, switch reads, then drop the old one",
    "renaming-table": "the previous release still uses the old name: create the new table "
    "(or a view) and migrate in steps",
    "changing-column-type": "rewrites the table under an ACCESS EXCLUSIVE lock, and the "
    "previous release may not read the new type: add a new column instead",
    "adding-not-nullable-field": "the previous release inserts rows without it, and SET NOT "
    "NULL scans the table under lock: use a CHECK (...) NOT VALID constraint, validate later",
    "adding-required-field": "the previous release inserts rows without it: make it "
    "nullable or give it a server default",
    "require-concurrent-index-creation": "blocks writes while the index builds: use "
    "postgresql_concurrently=True inside op.get_context().autocommit_block()",
    "require-lock-timeout": "without lock_timeout a DDL queued behind a long transaction "
    "blocks every query on the table: op.execute(\"SET lock_timeout = '5s'\") first",
}
# squawk rules about style rather than safety; teams may re-enable them with `include-rules`.
DEFAULT_EXCLUDED_RULES = (
    "prefer-bigint-over-int",
    "prefer-bigint-over-smallint",
    "prefer-identity",
    "prefer-text-field",
    "prefer-timestamp-tz",
    "prefer-robust-stmts",
    "ban-char-field",
    "require-statement-timeout",
)
OPT_OUT = re.compile(
    r"#\s*migration-lint:\s*allow\s+(?P<rules>[\w-]+(?:\s*,\s*[\w-]+)*)\s*(?:--\s*(?P<reason>.*))?$"
)
COMMENT_LINE = re.compile(r"^\s*#")


class MigrationLintInputs(ActionInputs):
    """The inputs of `fastapi-ci migration-lint`."""

    alembic_dir: str = Field(
        default=".", description="The directory holding alembic.ini (where alembic runs)."
    )
    alembic_config: str = Field(
        default="alembic.ini", description="The alembic config file, relative to alembic-dir."
    )
    since: str | None = Field(
        default=None,
        description="Lint the revisions after this one (the revision the running release "
        "is at); default: all.",
    )
    python: str | None = Field(
        default=None,
        description="The interpreter with the project's alembic and models (default: "
        "ALEMBIC_DIR/.venv/bin/python, else python on PATH).",
    )
    render_url: str = Field(
        default=DEFAULT_RENDER_URL,
        description="The URL given to env.py (as DATABASE_URL and sqlalchemy.url) to render "
        "SQL offline; only its dialect matters.",
    )
    drift_check: bool = Field(
        default=True, description="Run `alembic check` (models vs migrations)."
    )
    check_database_url: str | None = Field(
        default=None,
        description="A database server where the drift check creates (and drops) a "
        "scratch database of its own for `alembic check` (needs CREATEDB; default: a "
        "temporary SQLite file).",
    )
    exclude_rules: list[str] = Field(
        default_factory=list, description="squawk rules to skip (on top of the style rules)."
    )
    include_rules: list[str] = Field(
        default_factory=list, description="squawk rules to enable (opt-in or default-excluded)."
    )
    report_path: str | None = Field(default=None, description="Where to write the JSON report.")


class LintFinding(BaseModel):
    """One problem in one revision (or in the migration history as a whole)."""

    rule: str
    message: str
    revision: str | None = None
    file: str | None = None
    line: int | None = None
    statement: str = ""
    allowed_because: str | None = Field(
        default=None, description="The reason given in an opt-out comment, if any."
    )


class LintReport(BaseModel):
    """What migration-lint found; `findings` that are not allowed close the gate."""

    revisions: list[str]
    heads: list[str]
    findings: list[LintFinding]
    drift_checked: bool
    drift_skipped_because: str | None = Field(
        default=None, description="Why `alembic check` did not run, when it was asked for."
    )

    @property
    def blocking(self) -> list[LintFinding]:
        """Findings without an opt-out."""
        return [f for f in self.findings if f.allowed_because is None]


# --- running the project's alembic -------------------------------------------------------------


def run_probe(
    mode: str,
    project: Path,
    config: str,
    python: str,
    database_url: str,
    since: str = "",
    scratch_server_url: str = "",
) -> dict[str, Any]:
    """Run `_alembic_probe.py MODE` in the project's interpreter and return its JSON."""
    with tempfile.TemporaryDirectory(prefix="fastapi-ci-alembic-") as scratch:
        output = Path(scratch) / "probe.json"
        arguments = [python, str(_PROBE_SCRIPT), mode, config, str(output)]
        try:
            completed = subprocess.run(
                [*arguments, *([since] if since else [])],
                cwd=project,
                env={
                    **os.environ,
                    "DATABASE_URL": database_url,
                    "FASTAPI_CI_SCRATCH_SERVER_URL": scratch_server_url,
                    "PYTHONDONTWRITEBYTECODE": "1",
                },
                capture_output=True,
                text=True,
                timeout=PROBE_TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise CheckFailed(f"alembic {mode} took longer than {PROBE_TIMEOUT_SECONDS}s") from None
        if completed.returncode != 0:
            # SQLAlchemy ends its errors with a "(Background on this error at: URL)" line.
            lines = [
                line
                for line in completed.stderr.strip().splitlines()
                if line.strip() and not line.startswith("(Background on this error")
            ]
            reason = lines[-1] if lines else "no output"
            if completed.returncode == PROBE_EXIT_UNKNOWN_SINCE:
                raise InputError(
                    "since",
                    f"{since!r} is not a revision of {project / config} (alembic: {reason})",
                    why="only the revisions after the one the running release is at can break "
                    "it; an unknown revision leaves nothing to compare",
                    docs="migrate-once#migrate-once",
                    fix="give the revision the running release is at (`alembic current`, or "
                    "`alembic history`), or leave `since` empty to lint every revision",
                )
            if completed.returncode == PROBE_EXIT_TARGET_REFUSED:
                raise CheckFailed(
                    f"no throwaway database can be guaranteed: {reason}",
                    why="`alembic check` upgrades a database to compare it with the models; "
                    "it must never be a database that holds data",
                    docs="migrate-once#migrate-once",
                    fix="give check-database-url (a server where migration-lint may create a "
                    "scratch database), or make env.py use DATABASE_URL / sqlalchemy.url",
                )
            what = "render the revisions to SQL" if mode == "render" else "run alembic check"
            raise CheckFailed(
                f"alembic could not {what}: {reason}",
                why=completed.stderr[-3000:],
                fix="run the same alembic command locally",
            )
        result: dict[str, Any] = json.loads(output.read_text(encoding="utf-8"))
        return result


# --- squawk --------------------------------------------------------------------------------


def squawk_binary() -> str:
    """squawk from fastapi-ci's own environment (PyPI `squawk-cli`), else PATH."""
    beside = Path(sys.executable).with_name("squawk")
    found = str(beside) if beside.exists() else shutil.which("squawk")
    if found is None:
        raise CheckFailed(
            "squawk is not installed",
            why="migration-lint checks the SQL each revision renders with squawk",
            fix="pip install squawk-cli",
        )
    return found


@dataclass(frozen=True)
class RevisionSql:
    """The SQL one revision wrote (`body`, at `start` in the whole rendered SQL) as linted."""

    revision: str
    start: int
    body: str
    transactional: bool

    @property
    def text(self) -> str:
        """What squawk reads: the body, in the transaction alembic runs it in, if any."""
        return (
            f"{TRANSACTION_OPEN}{self.body}{TRANSACTION_CLOSE}" if self.transactional else self.body
        )

    def offset_in_sql(self, line: int, column: int) -> int | None:
        """Where a squawk position in `text` is in the whole SQL; None outside the body."""
        offset = _offset(self.text, line, column) - (
            len(TRANSACTION_OPEN) if self.transactional else 0
        )
        return self.start + offset if 0 <= offset < len(self.body) else None


TRANSACTION_OPEN = "BEGIN;\n"
TRANSACTION_CLOSE = "\nCOMMIT;\n"


def revision_sql(sql: str, writes: list[dict[str, Any]]) -> list[RevisionSql]:
    """Each revision's span of the rendered SQL (from its first write to its last), in order.

    Alembic's own statements between revisions (the version table, BEGIN and COMMIT)
    belong to none; when it renders a transaction, each span is linted inside one.
    """
    transactional = sql.lstrip().upper().startswith("BEGIN")
    spans: dict[str, tuple[int, int]] = {}
    for write in writes:
        start, end = spans.get(write["revision"], (write["start"], write["end"]))
        spans[write["revision"]] = (min(start, write["start"]), max(end, write["end"]))
    return [
        RevisionSql(revision, start, sql[start:end], transactional)
        for revision, (start, end) in sorted(spans.items(), key=lambda item: item[1][0])
    ]


def run_squawk(
    sqls: Sequence[str], excluded: Sequence[str], included: Sequence[str]
) -> list[list[dict[str, Any]]]:
    """squawk's JSON findings for each of `sqls`, linted as separate files (0-based lines).

    One squawk process for all of them: it lints every file on its own.
    """
    if not sqls:
        return []
    with tempfile.TemporaryDirectory(prefix="fastapi-ci-squawk-") as scratch:
        names = [f"{index:05d}.sql" for index in range(len(sqls))]
        for name, sql in zip(names, sqls, strict=True):
            (Path(scratch) / name).write_text(sql, encoding="utf-8")
        command = [squawk_binary(), "--reporter", "json", *names]
        if excluded:
            command.append("--exclude=" + ",".join(excluded))
        if included:
            command.append("--include=" + ",".join(included))
        # Run in the scratch directory: a .squawk.toml of the caller's must not change rules.
        completed = subprocess.run(
            command,
            cwd=scratch,
            capture_output=True,
            text=True,
            timeout=SQUAWK_TIMEOUT_SECONDS,
            check=False,
        )
    # squawk exits 1 when it found something; anything else is squawk failing.
    if completed.returncode not in (0, 1) or not completed.stdout.strip().startswith("["):
        raise CheckFailed(f"squawk failed: {(completed.stderr or completed.stdout).strip()[:500]}")
    findings: list[dict[str, Any]] = json.loads(completed.stdout)
    per_file: list[list[dict[str, Any]]] = [[] for _ in sqls]
    for finding in findings:
        per_file[names.index(Path(str(finding["file"])).name)].append(finding)
    return per_file


def _offset(sql: str, line: int, column: int) -> int:
    starts = [0]
    for index, char in enumerate(sql):
        if char == "\n":
            starts.append(index + 1)
    return starts[min(line, len(starts) - 1)] + column


def trace_findings(
    sql: str,
    writes: list[dict[str, Any]],
    segments: Sequence[RevisionSql],
    squawk_findings: Sequence[list[dict[str, Any]]],
) -> list[LintFinding]:
    """Findings on SQL written by a revision, placed on its `op.` line; others dropped.

    `squawk_findings[i]` are squawk's findings on `segments[i]`. SQL outside every revision
    (alembic's version table, env.py's own statements) is not the new revisions' doing.
    """
    located = [
        (segment.offset_in_sql(int(f["line"]), int(f["column"])), f)
        for segment, found in zip(segments, squawk_findings, strict=True)
        for f in found
    ]
    traced: list[LintFinding] = []
    for offset, finding in located:
        write = next(
            (w for w in writes if offset is not None and w["start"] <= offset < w["end"]), None
        )
        if write is None:
            continue
        rule = str(finding["rule_name"])
        advice = N_MINUS_ONE_ADVICE.get(rule) or finding.get("help") or ""
        traced.append(
            LintFinding(
                rule=rule,
                message=str(finding["message"]) + (f" ({advice})" if advice else ""),
                revision=write["revision"],
                file=write["file"],
                line=int(write["line"]),
                statement=sql[write["start"] : write["end"]].strip(),
            )
        )
    return traced


# --- opt-outs ------------------------------------------------------------------------------


def opt_outs_for(lines: Sequence[str], line: int) -> list[tuple[set[str], str]]:
    """Opt-out comments on 1-based `line` or in the comment block right above it."""
    found: list[tuple[set[str], str]] = []
    index = line - 1
    candidates = [lines[index]] if 0 <= index < len(lines) else []
    above = index - 1
    while above >= 0 and COMMENT_LINE.match(lines[above]):
        candidates.append(lines[above])
        above -= 1
    for text in candidates:
        match = OPT_OUT.search(text)
        if match:
            rules = {rule.strip() for rule in match["rules"].split(",")}
            found.append((rules, (match["reason"] or "").strip()))
    return found


def apply_opt_outs(findings: list[LintFinding]) -> list[LintFinding]:
    """Mark findings allowed by a reasoned opt-out; an opt-out without a reason is a finding."""
    sources: dict[str, list[str]] = {}
    extra: list[LintFinding] = []
    reported_bare: set[tuple[str, int]] = set()
    for finding in findings:
        if finding.file is None or finding.line is None:
            continue
        lines = sources.setdefault(
            finding.file, Path(finding.file).read_text(encoding="utf-8").splitlines()
        )
        for rules, reason in opt_outs_for(lines, finding.line):
            if finding.rule not in rules:
                continue
            if reason:
                finding.allowed_because = reason
            elif (finding.file, finding.line) not in reported_bare:
                reported_bare.add((finding.file, finding.line))
                extra.append(
                    finding.model_copy(
                        update={
                            "rule": "opt-out-without-reason",
                            "message": "an opt-out must say why: "
                            "`# migration-lint: allow RULE -- REASON`",
                        }
                    )
                )
    return findings + extra


# --- the command ---------------------------------------------------------------------------


def _relative(path: str | None) -> str | None:
    if path is None:
        return None
    try:
        return os.path.relpath(path)
    except ValueError:
        return path


def lint_migrations(inputs: MigrationLintInputs, console: Console) -> LintReport:
    """Render, squawk, trace, opt-outs, heads and drift: the whole lint, as a report."""
    project = Path(inputs.alembic_dir)
    if not project.is_dir():
        raise InputError(
            "alembic-dir",
            f"{project} is not a directory",
            fix="give the directory that holds alembic.ini, relative to the working directory",
            docs="migrate-once#migrate-once",
        )
    if not (project / inputs.alembic_config).is_file():
        raise InputError(
            "alembic-config",
            f"{project / inputs.alembic_config} is not a file (in alembic-dir)",
            fix="give the config's path relative to alembic-dir",
            docs="migrate-once#migrate-once",
        )
    python = find_project_python(project, inputs.python)
    rendered = run_probe(
        "render", project, inputs.alembic_config, python, inputs.render_url, inputs.since or ""
    )
    if rendered["dialect"] not in (None, "postgresql"):
        raise InputError(
            "render-url",
            f"env.py rendered SQL for {rendered['dialect']}, not PostgreSQL: make its offline "
            "mode use DATABASE_URL or sqlalchemy.url",
            why="the lint rules are PostgreSQL's: SQL rendered for another database would "
            "be judged by the wrong rules",
            docs="migrate-once#migrate-once",
        )
    excluded = [
        rule
        for rule in (*DEFAULT_EXCLUDED_RULES, *inputs.exclude_rules)
        if rule not in inputs.include_rules
    ]
    console.debug(f"rendered SQL:\n{rendered['sql']}")
    segments = revision_sql(rendered["sql"], rendered["writes"])
    findings = trace_findings(
        rendered["sql"],
        rendered["writes"],
        segments,
        run_squawk([segment.text for segment in segments], excluded, inputs.include_rules),
    )
    heads = rendered["heads"]
    if len(heads) > 1:
        names = ", ".join(head["revision"] for head in heads)
        findings.extend(
            LintFinding(
                rule="multiple-heads",
                message=f"the migration history has {len(heads)} heads ({names}): "
                "`alembic upgrade head` refuses to run; merge them with `alembic merge heads`",
                revision=head["revision"],
                file=head["file"],
                line=1,
            )
            for head in heads
        )
    skipped: str | None = None
    if inputs.drift_check:
        try:
            findings.extend(check_drift(inputs, project, python))
        except CheckFailed as failure:
            # The lint's own findings stand; only the drift verdict is missing, and it says so.
            skipped = failure.message
            console.warning(f"drift check skipped: {skipped}", title="migration-lint")
    return LintReport(
        revisions=[each["revision"] for each in rendered["revisions"]],
        heads=[head["revision"] for head in heads],
        findings=apply_opt_outs(findings),
        drift_checked=inputs.drift_check and skipped is None,
        drift_skipped_because=skipped,
    )


def check_drift(inputs: MigrationLintInputs, project: Path, python: str) -> list[LintFinding]:
    """`alembic check` on a throwaway database: models that the migrations do not produce.

    CheckFailed when it could not run there (see `_alembic_probe.ConnectionGuard`).
    """
    with tempfile.TemporaryDirectory(prefix="fastapi-ci-drift-") as scratch:
        sqlite_url = f"sqlite:///{Path(scratch) / 'drift.db'}"
        result = run_probe(
            "check",
            project,
            inputs.alembic_config,
            python,
            sqlite_url,
            scratch_server_url=inputs.check_database_url or "",
        )
    if not result["drift"]:
        return []
    return [
        LintFinding(
            rule="models-drift",
            message=f"the models and the migrations differ: {result['drift']} "
            "(generate the missing revision with `alembic revision --autogenerate`)",
        )
    ]


def _annotation(finding: LintFinding) -> Annotation:
    return Annotation(
        level="notice" if finding.allowed_because else "error",
        message=finding.message
        + (f" — allowed: {finding.allowed_because}" if finding.allowed_because else ""),
        file=_relative(finding.file),
        line=finding.line,
        title=f"migration-lint: {finding.rule}",
    )


def render_lint_summary(report: LintReport, passed: bool) -> str:
    """Status line, the findings table, and the opt-outs with their reasons."""
    lines: list[str] = []
    blocking = report.blocking
    if blocking:
        lines += ["| revision | where | rule | problem |", "|---|---|---|---|"]
        lines += [
            f"| {f.revision or ''} | {_relative(f.file) or ''}:{f.line or ''} | `{f.rule}` | "
            f"{markdown_cell(f.message)} |"
            for f in blocking
        ]
        lines.append("")
    allowed = [f for f in report.findings if f.allowed_because]
    if allowed:
        lines += ["**Allowed by opt-out:**", "", "| where | rule | reason |", "|---|---|---|"]
        lines += [
            f"| {_relative(f.file)}:{f.line} | `{f.rule}` | "
            f"{markdown_cell(f.allowed_because or '')} |"
            for f in allowed
        ]
        lines.append("")
    checks = ["squawk", "single head"] + (["alembic check"] if report.drift_checked else [])
    lines.append(
        f"Checked: {', '.join(checks)}. Revisions: {' '.join(report.revisions) or '(none)'}."
    )
    if report.drift_skipped_because:
        lines += ["", f"⚠️ alembic check skipped: {markdown_cell(report.drift_skipped_because)}"]
    return summary_from_template(
        "fastapi_ci.migrate_once",
        {
            "status_icon": "✅" if passed else "❌",
            "blocking_count": len(report.blocking),
            "revision_count": len(report.revisions),
            "body": "\n".join(lines),
        },
        template="lint_summary.md",
    )


def run_migration_lint(inputs: MigrationLintInputs, console: Console) -> ActionResult:
    """Lint the new revisions; the gate closes on any finding without a reasoned opt-out."""
    report = lint_migrations(inputs, console)
    passed = not report.blocking
    written = console.write_report(
        "migration-lint", report.model_dump_json(indent=2) + "\n", inputs.report_path
    )
    text_lines = [
        f"{_relative(f.file) or '(history)'}:{f.line or 0}: {f.rule}: {f.message}"
        + (f" [allowed: {f.allowed_because}]" if f.allowed_because else "")
        for f in report.findings
    ]
    verdict = (
        f"migration-lint: {len(report.revisions)} revision(s), "
        f"{len(report.blocking)} blocking finding(s), "
        f"{len(report.findings) - len(report.blocking)} allowed"
        + (
            f"; drift check skipped: {report.drift_skipped_because}"
            if report.drift_skipped_because
            else ""
        )
    )
    return ActionResult(
        passed=passed,
        text="\n".join([*text_lines, verdict]),
        summary=render_lint_summary(report, passed),
        outputs={
            "findings-count": str(len(report.blocking)),
            "revisions": " ".join(report.revisions),
            "report-path": str(written or ""),
        },
        report=report.model_dump(mode="json"),
        # On a terminal the text already lists every finding with its file and line.
        annotations=[_annotation(f) for f in report.findings] if console.on_github else [],
    )
