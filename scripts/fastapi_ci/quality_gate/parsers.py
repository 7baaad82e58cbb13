"""Turn each tool's machine-readable output into `Annotation`s (and the audit/coverage models).

Every parser is a pure function of the tool's output text, so it is tested on recorded
outputs. Tools name files relative to the project (or absolutely, like ruff); `repo_path`
maps such a name to the path GitHub shows annotations on: relative to the checked-out
repository, i.e. the `path` input joined with the tool's path.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

# The JUnit report is written by the project's own pytest into our private temp dir, so
# it is trusted input; defusedxml would be one more dependency for nothing.
from xml.etree import ElementTree

from pydantic import BaseModel, Field

from fastapi_ci.action_io import Annotation, AnnotationLevel

RepoPath = Callable[[str], str]
"""Maps a file name as a tool printed it to the file name GitHub annotates."""


class ToolOutputError(ValueError):
    """The tool printed something that is not the format we asked it for."""


def _load_json(text: str, tool: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ToolOutputError(f"{tool} did not print JSON: {error}") from None


# --- ruff -----------------------------------------------------------------------------------


def parse_ruff_check(text: str, repo_path: RepoPath) -> list[Annotation]:
    """`ruff check --output-format json`: one annotation per violation (columns are 1-based)."""
    annotations = []
    for item in _load_json(text, "ruff check"):
        location = item.get("location") or {}
        end = item.get("end_location") or {}
        code = item.get("code")
        annotations.append(
            Annotation(
                level="error",
                file=repo_path(item["filename"]),
                line=location.get("row"),
                end_line=end.get("row"),
                col=location.get("column"),
                # A syntax error has no rule code.
                title=f"ruff {code}" if code else "ruff: syntax error",
                message=item["message"],
            )
        )
    return annotations


_DIFF_FILE = re.compile(r"^--- (?P<file>.+?)\t?$")
_DIFF_HUNK = re.compile(r"^@@ -(?P<start>\d+)(?:,(?P<old>\d+))? \+\d+(?:,(?P<new>\d+))? @@")


def parse_ruff_format_diff(text: str, repo_path: RepoPath) -> list[Annotation]:
    """`ruff format --check --diff`: one annotation per hunk, on its first changed line."""
    annotations = []
    current_file: str | None = None
    lines = iter(text.splitlines())
    for line in lines:
        if (hunk := _DIFF_HUNK.match(line)) is not None and current_file is not None:
            annotations.append(
                Annotation(
                    level="error",
                    file=current_file,
                    line=_read_hunk(hunk, lines),
                    title="ruff format",
                    message="would be reformatted; run `ruff format` and commit the result",
                )
            )
        elif (file_match := _DIFF_FILE.match(line)) is not None:
            current_file = repo_path(file_match["file"])
    return annotations


def _read_hunk(header: re.Match[str], lines: Iterator[str]) -> int:
    """Consume one hunk's body; return the old-file line where it first differs.

    Counting the body (rather than scanning for the next header) keeps a removed line that
    happens to start with `-- ` from being taken for a file header.
    """
    line_number = int(header["start"])
    old_left = int(header["old"] or 1)
    new_left = int(header["new"] or 1)
    first_change: int | None = None
    while old_left > 0 or new_left > 0:
        line = next(lines, None)
        if line is None:
            break
        marker = line[:1]
        if marker != " " and first_change is None:
            # '-' (this line changes) or '+' (an insertion before this line).
            first_change = max(line_number, 1)
        if marker in (" ", "-"):
            old_left -= 1
            line_number += 1
        if marker in (" ", "+"):
            new_left -= 1
    return first_change if first_change is not None else int(header["start"])


# --- mypy -----------------------------------------------------------------------------------

# `app/x.py:12: error: Message  [code]` (with `:col` when --show-column-numbers is on).
_MYPY_TEXT_LINE = re.compile(
    r"^(?P<file>[^:\n]+):(?P<line>\d+):(?:(?P<col>\d+):)? error: (?P<message>.*?)"
    r"(?:  \[(?P<code>[a-z0-9-]+)\])?$"
)


def _mypy_annotation(
    repo_path: RepoPath, file: str, line: int, col: int | None, message: str, code: str | None
) -> Annotation:
    return Annotation(
        level="error",
        file=repo_path(file),
        line=line,
        col=col,
        title=f"mypy [{code}]" if code else "mypy",
        message=message,
    )


def parse_mypy_json(text: str, repo_path: RepoPath) -> list[Annotation]:
    """`mypy -O json` (mypy >= 1.11): one JSON object per line; notes ride on their error."""
    annotations = []
    for raw_line in text.splitlines():
        if not raw_line.startswith("{"):
            continue  # e.g. "Success: no issues found" is not part of the JSON stream
        item = _load_json(raw_line, "mypy")
        if item.get("severity") != "error":
            continue
        message = item["message"] + (f" ({item['hint']})" if item.get("hint") else "")
        column = item.get("column")
        annotations.append(
            _mypy_annotation(
                repo_path,
                item["file"],
                item["line"],
                # mypy's JSON columns are 0-based; GitHub's are 1-based. -1 means "no column".
                column + 1 if isinstance(column, int) and column >= 0 else None,
                message,
                item.get("code"),
            )
        )
    return annotations


def parse_mypy_text(text: str, repo_path: RepoPath) -> list[Annotation]:
    """Older mypy: `file:line: error: message  [code]` lines (notes and summary skipped)."""
    annotations = []
    for raw_line in text.splitlines():
        match = _MYPY_TEXT_LINE.match(raw_line)
        if match is None:
            continue
        annotations.append(
            _mypy_annotation(
                repo_path,
                match["file"],
                int(match["line"]),
                int(match["col"]) if match["col"] else None,
                match["message"],
                match["code"],
            )
        )
    return annotations


# --- bandit ---------------------------------------------------------------------------------


BANDIT_SEVERITIES = ("low", "medium", "high")


def parse_bandit(text: str, repo_path: RepoPath, fail_at: str = "low") -> list[Annotation]:
    """`bandit -f json`: one annotation per result, titled with the test id and severity;
    an error from severity `fail_at` up, a warning below it."""
    report = _load_json(text, "bandit")
    threshold = BANDIT_SEVERITIES.index(fail_at)

    def level(severity: str) -> AnnotationLevel:
        rank = BANDIT_SEVERITIES.index(severity) if severity in BANDIT_SEVERITIES else threshold
        return "error" if rank >= threshold else "warning"

    return [
        Annotation(
            level=level(item["issue_severity"].lower()),
            file=repo_path(item["filename"]),
            line=item["line_number"],
            col=item["col_offset"] + 1 if "col_offset" in item else None,  # 0-based
            title=f"bandit {item['test_id']} ({item['issue_severity'].lower()} severity)",
            message=f"{item['issue_text']} {item.get('more_info', '')}".strip(),
        )
        for item in report.get("results", [])
    ]


# --- pytest JUnit XML -----------------------------------------------------------------------

# A traceback location line in pytest's long report: `tests/test_x.py:12: AssertionError`.
_TRACEBACK_LOCATION = re.compile(r"^(?P<file>[^\s:][^:\n]*\.py):(?P<line>\d+):", re.MULTILINE)


def parse_junit_failures(
    xml_text: str, repo_path: RepoPath, is_project_file: Callable[[str], bool]
) -> list[Annotation]:
    """Failing and erroring test cases of pytest's JUnit XML (written with junit_family=xunit1).

    The annotation goes on the line where the test broke: the deepest traceback location
    inside the project (not in site-packages), else the test function's own line.
    """
    try:
        root = ElementTree.fromstring(xml_text)  # noqa: S314 - trusted, see the import
    except ElementTree.ParseError as error:
        raise ToolOutputError(f"pytest's JUnit report is not XML: {error}") from None
    annotations = []
    for case in root.iter("testcase"):
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        if problem is None:
            continue
        file, line = _failure_location(problem.text or "", is_project_file)
        if file is None and case.get("file"):
            file = case.get("file")
            # xunit1 writes the 0-based line of the `def`.
            line = int(case.get("line", "0")) + 1
        test_id = f"{case.get('classname', '')}::{case.get('name', '')}".strip(":")
        annotations.append(
            Annotation(
                level="error",
                file=repo_path(file) if file else None,
                line=line,
                title=f"test {'error' if problem.tag == 'error' else 'failed'}: {test_id}",
                message=(problem.get("message") or problem.tag).strip(),
            )
        )
    return annotations


def parse_junit_file_seconds(xml_text: str) -> dict[str, float]:
    """Seconds per test file in pytest's JUnit XML (xunit1 names each test's `file`): the sum
    of its test cases' times (setup, call and teardown)."""
    try:
        root = ElementTree.fromstring(xml_text)  # noqa: S314 - trusted, see the import
    except ElementTree.ParseError as error:
        raise ToolOutputError(f"pytest's JUnit report is not XML: {error}") from None
    seconds: dict[str, float] = {}
    for case in root.iter("testcase"):
        file = case.get("file")
        if not file:
            continue
        try:
            took = float(case.get("time", "0"))
        except ValueError:
            took = 0.0
        seconds[file] = seconds.get(file, 0.0) + took
    return seconds


def _failure_location(
    long_report: str, is_project_file: Callable[[str], bool]
) -> tuple[str | None, int | None]:
    for match in reversed(list(_TRACEBACK_LOCATION.finditer(long_report))):
        if is_project_file(match["file"]):
            return match["file"], int(match["line"])
    return None, None


# --- coverage.py JSON -----------------------------------------------------------------------


class FileCoverage(BaseModel):
    """One measured file: its percentage and the lines no test ran."""

    file: str
    percent: float
    missing_lines: list[int] = Field(default_factory=list)


class CoverageReport(BaseModel):
    """The totals and per-file figures of `coverage.json`."""

    percent: float
    files: list[FileCoverage] = Field(default_factory=list)


def parse_coverage_json(text: str) -> CoverageReport:
    """`--cov-report=json`: `totals.percent_covered` and each file's missing lines."""
    data = _load_json(text, "coverage")
    try:
        return CoverageReport(
            percent=float(data["totals"]["percent_covered"]),
            files=[
                FileCoverage(
                    file=name,
                    percent=float(figures["summary"]["percent_covered"]),
                    missing_lines=figures.get("missing_lines", []),
                )
                for name, figures in data.get("files", {}).items()
            ],
        )
    except (KeyError, TypeError) as error:
        raise ToolOutputError(f"coverage.json lacks {error}") from None


# --- pip-audit JSON -------------------------------------------------------------------------


class Vulnerability(BaseModel):
    """One known vulnerability of one pinned dependency."""

    package: str
    version: str
    id: str
    aliases: list[str] = Field(default_factory=list)
    fix_versions: list[str] = Field(default_factory=list)
    description: str = ""


class AuditReport(BaseModel):
    """What pip-audit found: the dependencies it could check, the ones it could not, and vulns."""

    audited: int
    skipped: dict[str, str] = Field(default_factory=dict, description="name -> skip reason")
    vulnerabilities: list[Vulnerability] = Field(default_factory=list)

    @property
    def nothing_audited(self) -> bool:
        """True when no dependency could be checked: that is no verdict, not a pass.

        Seen here: with PyPI's per-version JSON API unreachable, pip-audit marks every
        dependency "not found on PyPI", prints "No known vulnerabilities found" and exits 0.
        """
        return self.audited == 0


def parse_pip_audit(text: str) -> AuditReport:
    """`pip-audit -f json`: `{"dependencies": [{name, version, vulns} | {name, skip_reason}]}`."""
    data = _load_json(text, "pip-audit")
    audited = 0
    skipped: dict[str, str] = {}
    vulnerabilities: list[Vulnerability] = []
    for dependency in data.get("dependencies", []):
        if "skip_reason" in dependency:
            skipped[dependency["name"]] = dependency["skip_reason"]
            continue
        audited += 1
        vulnerabilities.extend(
            Vulnerability(
                package=dependency["name"],
                version=dependency.get("version", ""),
                id=vuln["id"],
                aliases=vuln.get("aliases", []),
                fix_versions=vuln.get("fix_versions", []),
                description=vuln.get("description", ""),
            )
            for vuln in dependency.get("vulns", [])
        )
    return AuditReport(audited=audited, skipped=skipped, vulnerabilities=vulnerabilities)


# What requests/urllib3 say when the vulnerability service cannot be reached at all.
_UNREACHABLE_MARKERS = (
    "ConnectionError",
    "NameResolutionError",
    "Max retries exceeded",
    "Failed to resolve",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "Connection refused",
    "timed out",
    "Could not connect",
)


def is_service_unreachable(stderr: str) -> bool:
    """True when pip-audit failed because the network or the service is out of reach."""
    return any(marker in stderr for marker in _UNREACHABLE_MARKERS)


_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_line(requirements_text: str, package: str) -> int | None:
    """The 1-based line of a requirements file that pins `package` (PEP 503 name matching)."""
    return first_line_naming(requirements_text, package, _REQUIREMENT_NAME)


def first_line_naming(text: str, package: str, name: re.Pattern[str]) -> int | None:
    """The 1-based first line whose `name` match (group 1) is `package`, PEP 503-wise."""
    wanted = _canonical(package)
    for number, line in enumerate(text.splitlines(), start=1):
        match = name.match(line)
        if match is not None and _canonical(match[1]) == wanted:
            return number
    return None
