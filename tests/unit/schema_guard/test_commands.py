"""The schema-export, schema-guard and schema-diff commands, end to end through the CLI.

The apps are imported by a separate interpreter (this test's own, which has FastAPI), the
way the action imports a project's app with the project's interpreter.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fastapi_ci.openapi_document import dump_document
from tests.support.github import read_outputs
from tests.unit.schema_guard.conftest import FIXTURES, app_spec, run


@pytest.fixture
def apps(tmp_path: Path) -> Path:
    """A copy of the fixture apps, importable as top-level modules, with a bad one added."""
    directory = tmp_path / "apps dir"  # a space, as real checkouts sometimes have
    shutil.copytree(FIXTURES, directory)
    (directory / "broken.py").write_text("import does_not_exist_anywhere\n")
    return directory


@pytest.fixture
def github(tmp_path: Path) -> dict[str, str]:
    for name in ("output", "summary"):
        (tmp_path / name).touch()
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
        "RUNNER_TEMP": str(tmp_path / "runner-temp"),
    }


def export(apps: Path, target: str, output: Path) -> int:
    return run(
        ["schema-export", "--app", target, "--app-dir", str(apps), "--python", sys.executable,
         "--output", str(output)]
    )  # fmt: skip


def guard(
    apps: Path, target: str, golden: Path, *extra: str, env: dict[str, str] | None = None
) -> int:
    return run(
        ["schema-guard", "--app", target, "--app-dir", str(apps), "--python", sys.executable,
         "--golden", str(golden), *extra],
        env,
    )  # fmt: skip


def test_export_is_deterministic_sorted_and_ends_with_a_newline(apps: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    assert export(apps, "shop_v1:app", first) == 0
    assert export(apps, "shop_v1:app", second) == 0
    text = first.read_text()
    assert text == second.read_text()
    assert text.endswith("}\n")
    assert text == dump_document(app_spec("shop_v1"))
    assert list(json.loads(text)) == sorted(json.loads(text))


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("no_such_module:app", "cannot import 'no_such_module'"),
        ("broken:app", "No module named 'does_not_exist_anywhere'"),
        ("shop_v1:nope", "has no attribute 'nope'"),
        ("shop_v1:Color", "not a FastAPI application"),
        ("shop_v1", "expected MODULE:ATTRIBUTE"),
    ],
)
def test_an_app_that_does_not_import_is_bad_input_in_one_line(
    apps: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], target: str, expected: str
) -> None:
    assert export(apps, target, tmp_path / "out.json") == 2
    err = capsys.readouterr().err
    assert "input 'app'" in err
    assert expected in err
    assert "Traceback" not in err
    assert not (tmp_path / "out.json").exists()


def test_guard_passes_when_the_app_matches_the_golden_file(
    apps: Path, tmp_path: Path, github: dict[str, str]
) -> None:
    golden = tmp_path / "openapi.json"
    assert export(apps, "shop_v1:app", golden) == 0
    assert guard(apps, "shop_v1:app", golden, env=github) == 0
    assert read_outputs(github["GITHUB_OUTPUT"])["breaking"] == "false"
    assert read_outputs(github["GITHUB_OUTPUT"])["changes-count"] == "0"
    assert "✅ No changes to the API" in Path(github["GITHUB_STEP_SUMMARY"]).read_text()


def test_guard_fails_on_a_breaking_change_with_report_summary_and_annotations(
    apps: Path, tmp_path: Path, github: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    golden = tmp_path / "openapi.json"
    assert export(apps, "shop_v1:app", golden) == 0
    golden_before = golden.read_text()

    assert guard(apps, "shop_v2:app", golden, env=github) == 1

    found = read_outputs(github["GITHUB_OUTPUT"])
    assert found["breaking"] == "true"
    report = json.loads(Path(found["report-path"]).read_text())
    assert report["breaking"] is True
    assert int(found["changes-count"]) == len(report["changes"]) > 10
    assert set(report["changes"][0]) >= {"id", "level", "location", "message"}
    summary = Path(github["GITHUB_STEP_SUMMARY"]).read_text()
    assert "❌ Breaking changes to the API" in summary
    assert "| Level | Endpoint | Location | Change | Rule |" in summary
    out = capsys.readouterr().out
    # Annotations point at the golden file, at the line of the removed operation.
    [removed] = [
        line for line in out.splitlines() if "title=api-removed-without-deprecation" in line
    ]
    assert removed.startswith(f"::error file={golden},line=")
    line = int(removed.split("line=")[1].split(",")[0])
    assert golden_before.splitlines()[line - 1].strip() == '"delete": {'
    assert golden.read_text() == golden_before, "a failing guard never touches the golden file"


def test_fail_on_never_reports_but_opens_the_gate(apps: Path, tmp_path: Path) -> None:
    golden = tmp_path / "openapi.json"
    assert export(apps, "shop_v1:app", golden) == 0
    assert guard(apps, "shop_v2:app", golden, "--fail-on", "never") == 0


def test_update_rewrites_the_golden_file_and_the_next_guard_passes(
    apps: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    golden = tmp_path / "openapi.json"
    assert export(apps, "shop_v1:app", golden) == 0
    assert guard(apps, "shop_v2:app", golden, "--update") == 0
    assert golden.read_text() == dump_document(app_spec("shop_v2"))
    assert "Updated" in capsys.readouterr().out
    assert guard(apps, "shop_v2:app", golden) == 0


def test_a_non_breaking_drift_passes_but_says_the_golden_file_is_out_of_date(
    apps: Path, tmp_path: Path, github: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    golden = tmp_path / "openapi.json"
    assert export(apps, "shop_v1:app", golden) == 0
    document = json.loads(golden.read_text())
    del document["paths"]["/tree"]  # the app now has an endpoint the golden file lacks
    golden.write_text(dump_document(document))
    assert guard(apps, "shop_v1:app", golden, env=github) == 0
    assert read_outputs(github["GITHUB_OUTPUT"])["changes-count"] == "1"
    assert f"::warning file={golden},title=schema-guard::" in capsys.readouterr().out


def test_missing_golden_file_is_bad_input_unless_updating(
    apps: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    golden = tmp_path / "new" / "openapi.json"
    assert guard(apps, "shop_v1:app", golden) == 2
    assert "input 'golden':" in capsys.readouterr().err
    assert guard(apps, "shop_v1:app", golden, "--update") == 0
    assert golden.read_text() == dump_document(app_spec("shop_v1"))


def test_golden_file_that_is_not_openapi_is_bad_input(
    apps: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    golden = tmp_path / "openapi.json"
    golden.write_text('{"swagger": "2.0", "paths": {}}')
    assert guard(apps, "shop_v1:app", golden) == 2
    err = capsys.readouterr().err
    assert "input 'golden'" in err
    assert "Traceback" not in err


def write_specs(tmp_path: Path, base: str, revision: str) -> tuple[str, str]:
    (tmp_path / "base.json").write_text(dump_document(app_spec(base)))
    (tmp_path / "revision.json").write_text(dump_document(app_spec(revision)))
    return str(tmp_path / "base.json"), str(tmp_path / "revision.json")


def test_diff_json_format_is_the_documented_report_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, revision = write_specs(tmp_path, "shop_v1", "shop_v2")
    assert run(["schema-diff", base, revision, "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["breaking"] is True
    levels = [change["level"] for change in report["changes"]]
    assert levels == sorted(levels, key=["error", "warning", "info"].index)


def test_diff_github_format_prints_annotations_on_the_revision(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, revision = write_specs(tmp_path, "shop_v1", "shop_v2")
    assert run(["schema-diff", base, revision, "--format", "github"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("❌ Breaking changes")
    assert any(line.startswith(f"::error file={revision},") for line in lines)
    assert any(line.startswith("::notice ") for line in lines)


def test_diff_of_a_renamed_model_is_no_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, revision = tmp_path / "a.json", tmp_path / "b.json"
    base.write_text(dump_document(app_spec("renamed_models", "app_before")))
    revision.write_text(dump_document(app_spec("renamed_models", "app_after")))
    assert run(["schema-diff", str(base), str(revision), "--fail-on", "warning"]) == 0
    assert "No changes to the API" in capsys.readouterr().out


def test_diff_reads_yaml_openapi_3_0(capsys: pytest.CaptureFixture[str]) -> None:
    base, revision = FIXTURES / "petstore_v1.yaml", FIXTURES / "petstore_v2.yaml"
    assert run(["schema-diff", str(base), str(revision), "--format", "markdown"]) == 1
    assert "| Level | Endpoint |" in capsys.readouterr().out


QUERY_Q = {"name": "q", "in": "query", "schema": {"type": "string"}}


def test_fail_on_warning_closes_the_gate_on_warnings_only(tmp_path: Path) -> None:
    base = {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/a": {"get": {"parameters": [QUERY_Q], "responses": {"200": {"description": "ok"}}}}
        },
    }
    # A query parameter removed: a warning (the server now ignores what clients send).
    revision = {**base, "paths": {"/a": {"get": {"responses": {"200": {"description": "ok"}}}}}}
    (tmp_path / "a.json").write_text(json.dumps(base))
    (tmp_path / "b.json").write_text(json.dumps(revision))
    files = [str(tmp_path / "a.json"), str(tmp_path / "b.json")]
    assert run(["schema-diff", *files]) == 0
    assert run(["schema-diff", *files, "--fail-on", "warning"]) == 1


def test_diff_of_a_file_that_is_not_openapi_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    not_json = tmp_path / "notes.txt"
    not_json.write_text("just: [unclosed\n")
    assert run(["schema-diff", str(not_json), str(FIXTURES / "petstore_v1.yaml")]) == 2
    err = capsys.readouterr().err
    assert "input 'base'" in err
    assert str(not_json) in err
    assert "Traceback" not in err


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The umask of a usual shell (files 0644), whatever this process runs with."""
    before = os.umask(0o022)
    yield
    os.umask(before)


@pytest.mark.usefixtures("umask_022")
def test_golden_files_are_written_readable_as_any_new_file_is(apps: Path, tmp_path: Path) -> None:
    exported, updated = tmp_path / "exported.json", tmp_path / "new" / "openapi.json"
    assert export(apps, "shop_v1:app", exported) == 0
    assert guard(apps, "shop_v1:app", updated, "--update") == 0
    assert stat.S_IMODE(exported.stat().st_mode) == 0o644
    assert stat.S_IMODE(updated.stat().st_mode) == 0o644
    # A golden file's own permissions survive an update.
    updated.chmod(0o664)
    assert guard(apps, "shop_v2:app", updated, "--update") == 0
    assert stat.S_IMODE(updated.stat().st_mode) == 0o664
