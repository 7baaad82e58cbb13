"""The report: ordering, JSON form, markdown summary and GitHub annotations."""

from __future__ import annotations

import json

from fastapi_ci.openapi_document import dump_document
from fastapi_ci.schema_guard.diff import diff_documents
from fastapi_ci.schema_guard.report import (
    Change,
    DiffReport,
    change_annotations,
    render_markdown,
    render_text,
)
from tests.unit.schema_guard.conftest import app_spec

INFO = Change(
    id="endpoint-added",
    level="info",
    location="endpoint",
    message="endpoint added",
    operation="GET /a",
)
WARNING = Change(
    id="response-property-enum-value-added",
    level="warning",
    location="response 200 application/json: kind",
    message="gained 'x'",
    operation="GET /b",
)
ERROR = Change(
    id="api-path-removed-without-deprecation",
    level="error",
    location="endpoint",
    message="path removed",
    operation="GET /c",
    affected_operations=("GET /c",),
)


def test_report_lists_errors_then_warnings_then_info_and_is_breaking_on_errors() -> None:
    report = DiffReport.from_changes([INFO, WARNING, ERROR])
    assert [c.level for c in report.changes] == ["error", "warning", "info"]
    assert report.breaking
    assert not DiffReport.from_changes([INFO, WARNING]).breaking


def test_json_report_has_the_documented_shape() -> None:
    report = DiffReport.from_changes([ERROR])
    assert json.loads(report.model_dump_json()) == {
        "breaking": True,
        "changes": [
            {
                "id": "api-path-removed-without-deprecation",
                "level": "error",
                "location": "endpoint",
                "message": "path removed",
                "operation": "GET /c",
                "affected_operations": ["GET /c"],
                "affected_operations_count": 1,
                "fingerprint": ERROR.fingerprint,
            }
        ],
    }


def test_markdown_summary_says_no_change_with_a_green_status() -> None:
    assert render_markdown(DiffReport.from_changes([])) == "### ✅ No changes to the API\n"
    assert "✅ No breaking changes" in render_markdown(DiffReport.from_changes([INFO]))


def test_markdown_summary_groups_changes_by_endpoint_breaking_first() -> None:
    report = DiffReport.from_changes([INFO, WARNING, ERROR])
    text = render_markdown(report)
    assert text.startswith(
        "### ❌ Breaking changes to the API (1 breaking, 1 warnings, 1 other changes)"
    )
    rows = [line for line in text.splitlines() if line.startswith("| ") and "`GET" in line]
    assert [row.split(" | ")[1] for row in rows] == ["`GET /c`", "`GET /b`", "`GET /a`"]


def test_markdown_cells_escape_pipes_and_newlines() -> None:
    change = Change(
        id="request-property-pattern-added",
        level="error",
        location="request body application/json: code",
        message="gained the pattern 'a|b'\nsecond line",
        operation="POST /x",
    )
    text = render_markdown(DiffReport.from_changes([change]))
    assert "gained the pattern 'a\\|b'<br>second line" in text


def test_markdown_summary_can_be_capped() -> None:
    text = render_markdown(DiffReport.from_changes([INFO, WARNING, ERROR]), max_rows=1)
    assert "… and 2 more changes" in text


def test_text_report_shows_status_rule_operation_and_location() -> None:
    text = render_text(DiffReport.from_changes([WARNING]))
    assert text.splitlines()[0].startswith("✅ No breaking changes")
    assert "response-property-enum-value-added" in text
    assert "GET /b  response 200 application/json: kind" in text


def test_annotations_point_at_the_golden_file_with_escaped_values() -> None:
    change = Change(
        id="response-media-type-removed",
        level="error",
        location="response 200 text/plain",
        message="100% gone\nreally, truly: gone",
        operation="GET /export",
    )
    [annotation] = change_annotations(DiffReport.from_changes([change]), "api/open,api:v1.json")
    line = annotation.workflow_command()
    assert line == (
        "::error file=api/open%2Capi%3Av1.json,title=response-media-type-removed"
        "::GET /export response 200 text/plain: 100%25 gone%0Areally, truly: gone"
    )


def test_annotation_commands_follow_the_level() -> None:
    found = change_annotations(DiffReport.from_changes([INFO, WARNING, ERROR]), "openapi.json")
    assert [a.level for a in found] == ["error", "warning", "notice"]


def test_annotations_carry_the_line_of_the_operation_in_the_golden_file() -> None:
    base, revision = app_spec("shop_v1"), app_spec("shop_v2")
    golden_text = dump_document(base)
    report = DiffReport.from_changes(diff_documents(base, revision))
    lines = [
        a.workflow_command()
        for a in change_annotations(report, "openapi.json", golden_text=golden_text)
    ]
    [removed] = [line for line in lines if "api-removed-without-deprecation" in line]
    line_number = int(removed.split("line=")[1].split(",")[0])
    assert golden_text.splitlines()[line_number - 1] == '      "delete": {'
    # An endpoint that is not in the golden file has no line to point at.
    [added] = [line for line in lines if "title=endpoint-added" in line]
    assert "line=" not in added
