"""`ci.yml` (quality-gate + schema-guard), called from a service repository, under act."""

from __future__ import annotations

import json
from collections.abc import Callable

from tests.e2e.conftest import CallerRepository, RunAct

CALLER = """\
on: pull_request
jobs:
  ci:
    uses: fastapi-ci/fastapi-ci/.github/workflows/ci.yml@main
    with:
      app: app.main:app
      coverage-min: 80
      # uv instead of the default pip: the same hash-pinned set, in a second.
      install-command: >-
        uv venv --quiet --python python3 .venv
        && uv pip sync --quiet --python .venv/bin/python requirements-dev.txt
  report:
    needs: ci
    if: always()
    runs-on: ubuntu-latest
    steps:
      - env:
          PASSED: ${{ needs.ci.outputs.passed }}
          BREAKING: ${{ needs.ci.outputs.breaking }}
        run: echo "outputs passed=$PASSED breaking=$BREAKING"
"""


def test_ci_passes_on_the_example_service(
    caller_repository: Callable[[str], CallerRepository], run_act: RunAct
) -> None:
    run = run_act(caller_repository(CALLER), "pull_request")
    assert run.returncode == 0
    assert run.lines("quality-gate and schema-guard", "Job succeeded")
    summary = run.summary()
    assert "quality-gate: all 7 checks passed" in summary
    assert "No changes to the API" in summary
    # The workflow's outputs reach the caller.
    assert run.lines("| outputs passed=true breaking=false")


def test_a_lint_error_fails_at_the_gate_with_an_annotation_on_its_line(
    caller_repository: Callable[[str], CallerRepository], run_act: RunAct
) -> None:
    repository = caller_repository(CALLER)
    crud = repository.path / "app" / "crud.py"
    source = crud.read_text()
    # An unused local variable: ruff's F841, on the last line of the file.
    crud.write_text(source + "\n\ndef lint_error_on_purpose() -> None:\n    unused = 1\n")
    line = len(crud.read_text().splitlines())
    repository.commit("an unused variable")

    run = run_act(repository, "pull_request")

    assert run.returncode != 0
    assert run.lines("Failure - Main Quality gate")
    annotations = run.lines("::error", "file=app/crud.py", f"line={line}")
    assert any("F841" in line for line in annotations), run.lines("::error")
    assert "ruff" in run.summary()
    # The schema guard still ran and still has its say.
    assert "No changes to the API" in run.summary()
    # (act runs no job after a failed one, so the outputs are read where they are set.)
    assert run.lines("::set-output:: passed=false")
    assert run.lines("::set-output:: breaking=false")


def test_a_breaking_schema_change_fails_with_the_report_in_the_summary(
    caller_repository: Callable[[str], CallerRepository], run_act: RunAct
) -> None:
    repository = caller_repository(CALLER)
    # The golden file promises clients an endpoint the app does not serve: removing an
    # endpoint is the change that breaks them (the tests cannot notice it).
    golden_path = repository.path / "openapi.json"
    golden = json.loads(golden_path.read_text())
    golden["paths"]["/api/v1/legacy-report"] = {
        "get": {
            "operationId": "legacy_report",
            "responses": {"200": {"description": "The report"}},
        }
    }
    golden_path.write_text(json.dumps(golden, indent=2) + "\n")
    repository.commit("clients were promised /api/v1/legacy-report")

    run = run_act(repository, "pull_request")

    assert run.returncode != 0
    assert run.lines("Failure - Main Schema guard")
    summary = run.summary()
    assert "quality-gate: all 7 checks passed" in summary
    assert "/api/v1/legacy-report" in summary
    assert "breaking" in summary.lower()
    assert run.lines("::set-output:: passed=true")
    assert run.lines("::set-output:: breaking=true")
