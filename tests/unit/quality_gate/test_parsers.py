"""The parsers, on outputs recorded from the real tools (see tests/fixtures/quality_gate/record.py).

The recordings come from a sample project at `/project` with one problem per check; here
it is seen as checked out at `services/api` of a repository, so every annotation path must
read `services/api/<file>`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fastapi_ci.action_io import Annotation
from fastapi_ci.quality_gate import parsers
from fastapi_ci.quality_gate.project import Project

RECORDINGS = Path(__file__).resolve().parents[2] / "fixtures" / "quality_gate"


def recorded(name: str) -> str:
    return (RECORDINGS / name).read_text(encoding="utf-8")


@pytest.fixture
def project() -> Project:
    return Project(root=Path("/project"), display_path="services/api", python="python")


def locations(annotations: list[Annotation]) -> list[tuple[str | None, int | None]]:
    return [(annotation.file, annotation.line) for annotation in annotations]


def test_ruff_findings_point_at_the_file_under_the_checked_out_path(project: Project) -> None:
    annotations = parsers.parse_ruff_check(recorded("ruff-check.json"), project.repo_path)
    assert locations(annotations) == [("services/api/app/service.py", 1)]
    assert annotations[0].title == "ruff F401"
    assert "`os` imported but unused" in annotations[0].message
    assert annotations[0].col == 8


def test_ruff_syntax_error_without_a_rule_code_is_still_reported(project: Project) -> None:
    output = (
        '[{"code": null, "filename": "/project/app/x.py", "message": "SyntaxError: bad",'
        ' "location": {"row": 3, "column": 1}, "end_location": {"row": 3, "column": 2}}]'
    )
    [annotation] = parsers.parse_ruff_check(output, project.repo_path)
    assert annotation.title == "ruff: syntax error"
    assert (annotation.file, annotation.line) == ("services/api/app/x.py", 3)


def test_format_diff_gives_one_annotation_per_hunk_on_its_first_changed_line(
    project: Project,
) -> None:
    annotations = parsers.parse_ruff_format_diff(recorded("ruff-format.diff"), project.repo_path)
    assert locations(annotations) == [("services/api/app/style.py", 1)]


def test_format_hunk_that_opens_with_context_points_past_the_context() -> None:
    diff = (
        "--- app/a.py\n+++ app/a.py\n"
        "@@ -10,4 +10,4 @@\n context\n context\n-x=1\n+x = 1\n context\n"
        "@@ -40,2 +40,3 @@\n context\n+\n context\n"
        "--- app/b.py\n+++ app/b.py\n@@ -1 +1 @@\n--- not a header, a removed line\n+y\n"
    )
    annotations = parsers.parse_ruff_format_diff(diff, lambda path: path)
    assert locations(annotations) == [("app/a.py", 12), ("app/a.py", 41), ("app/b.py", 1)]


def test_mypy_json_lines_become_annotations_with_1_based_columns(project: Project) -> None:
    [annotation] = parsers.parse_mypy_json(recorded("mypy.jsonl"), project.repo_path)
    assert (annotation.file, annotation.line, annotation.col) == (
        "services/api/app/service.py",
        10,
        12,
    )
    assert annotation.title == "mypy [return-value]"
    assert annotation.message.startswith("Incompatible return value type")


def test_mypy_text_output_of_older_versions_reads_the_same(project: Project) -> None:
    from_text = parsers.parse_mypy_text(recorded("mypy.txt"), project.repo_path)
    from_json = parsers.parse_mypy_json(recorded("mypy.jsonl"), project.repo_path)
    assert locations(from_text) == locations(from_json)
    assert from_text[0].title == from_json[0].title
    assert from_text[0].message == from_json[0].message


def test_mypy_notes_and_summary_lines_are_not_findings(project: Project) -> None:
    text = (
        "app/a.py:3: note: See https://mypy.rtfd.io\n"
        'app/a.py:4:7: error: Name "x" is not defined  [name-defined]\n'
        "Found 1 error in 1 file (checked 2 source files)\n"
    )
    [annotation] = parsers.parse_mypy_text(text, project.repo_path)
    assert (annotation.line, annotation.col, annotation.title) == (4, 7, "mypy [name-defined]")


def test_bandit_results_name_the_test_and_severity(project: Project) -> None:
    annotations = parsers.parse_bandit(recorded("bandit.json"), project.repo_path)
    assert locations(annotations) == [
        ("services/api/app/service.py", 2),
        ("services/api/app/service.py", 6),
    ]
    assert annotations[1].title == "bandit B602 (high severity)"
    assert "shell=True" in annotations[1].message


def test_failing_test_is_annotated_where_it_broke(project: Project) -> None:
    [annotation] = parsers.parse_junit_failures(
        recorded("junit.xml"), project.repo_path, lambda path: not path.startswith("/usr")
    )
    assert (annotation.file, annotation.line) == ("services/api/tests/test_service.py", 5)
    assert annotation.title == "test failed: tests.test_service::test_double_of_two_is_four"
    assert "assert '4' == 4" in annotation.message


def test_failure_deep_in_a_library_is_annotated_on_the_test_itself(project: Project) -> None:
    xml = (
        '<testsuites><testsuite><testcase classname="tests.test_x" name="test_y"'
        ' file="tests/test_x.py" line="9"><error message="boom">'
        "/venv/lib/site-packages/lib.py:40: RuntimeError</error>"
        "</testcase></testsuite></testsuites>"
    )
    [annotation] = parsers.parse_junit_failures(xml, project.repo_path, lambda _path: False)
    # xunit1 writes the 0-based line of the `def`; GitHub wants 1-based.
    assert (annotation.file, annotation.line) == ("services/api/tests/test_x.py", 10)
    assert annotation.title == "test error: tests.test_x::test_y"


def test_junit_that_is_not_xml_is_a_tool_output_error(project: Project) -> None:
    with pytest.raises(parsers.ToolOutputError):
        parsers.parse_junit_failures("<testsuites", project.repo_path, lambda _path: True)
    with pytest.raises(parsers.ToolOutputError):
        parsers.parse_junit_file_seconds("<testsuites")


def test_junit_gives_the_seconds_each_test_file_took() -> None:
    assert parsers.parse_junit_file_seconds(recorded("junit.xml")) == {
        "tests/test_service.py": pytest.approx(0.003)
    }
    xml = (
        '<testsuites><testsuite><testcase file="tests/a.py" time="1.5"/>'
        '<testcase file="tests/b.py" time="0.25"/><testcase file="tests/a.py" time="0.5"/>'
        '<testcase name="no file" time="9"/><testcase file="tests/b.py" time="odd"/>'
        "</testsuite></testsuites>"
    )
    assert parsers.parse_junit_file_seconds(xml) == {"tests/a.py": 2.0, "tests/b.py": 0.25}


def test_coverage_report_has_the_total_and_each_files_missing_lines() -> None:
    report = parsers.parse_coverage_json(recorded("coverage.json"))
    assert report.percent == pytest.approx(55.56, abs=0.01)
    by_file = {file.file: file for file in report.files}
    assert by_file["app/service.py"].missing_lines == [6]
    assert by_file["app/style.py"].percent == 0


def test_audit_finds_each_known_vulnerability_with_its_fix() -> None:
    report = parsers.parse_pip_audit(recorded("pip-audit-vulnerable.json"))
    assert report.audited == 7
    assert [(v.package, v.id, v.fix_versions) for v in report.vulnerabilities] == [
        ("jinja2", "PYSEC-2021-66", ["2.11.3"]),
        ("requests", "PYSEC-2018-28", ["2.20.0"]),
        ("requests", "PYSEC-2023-74", ["2.31.0"]),
    ]
    assert "CVE-2020-28493" in report.vulnerabilities[0].aliases


def test_audit_where_no_dependency_could_be_checked_is_no_verdict() -> None:
    # Recorded for real: pip-audit exits 0 and says "No known vulnerabilities found".
    report = parsers.parse_pip_audit(recorded("pip-audit-pypi-unreachable.json"))
    assert report.nothing_audited
    assert report.vulnerabilities == []
    assert "not found on PyPI" in report.skipped["jinja2"]


def test_unreachable_vulnerability_service_is_recognised_from_stderr() -> None:
    assert parsers.is_service_unreachable(recorded("pip-audit-osv-unreachable.stderr"))
    assert not parsers.is_service_unreachable("ERROR: invalid requirement: 'jinja2=='")


def test_pip_audit_output_that_is_not_json_is_a_tool_output_error() -> None:
    with pytest.raises(parsers.ToolOutputError):
        parsers.parse_pip_audit("")


def test_requirement_line_matches_names_the_way_pip_does() -> None:
    text = "# pinned\nJinja2==2.11.0 \\\n    --hash=sha256:abc\nzope.interface==6.0\n"
    assert parsers.requirement_line(text, "jinja2") == 2
    assert parsers.requirement_line(text, "zope-interface") == 4
    assert parsers.requirement_line(text, "requests") is None
