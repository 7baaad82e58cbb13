"""migration-lint on real alembic revision files: squawk on the rendered SQL, traced back.

Each rule has a revision file under tests/fixtures/migrate_once/lint_revisions/, added on
top of the fixture project's history (`--since 0003`, as in a pull request adding it).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fastapi_ci.action_io import Console, execute
from fastapi_ci.migrate_once import MIGRATION_LINT
from fastapi_ci.migrate_once.lint import MigrationLintInputs, lint_migrations
from tests.components import EXAMPLE_SERVICE, REPO_ROOT

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "migrate_once"
REVISIONS = FIXTURES / "lint_revisions"


def project_with(tmp_path: Path, *revision_files: str) -> Path:
    """A copy of the fixture project with these lint revisions added after 0003."""
    project = tmp_path / "project"
    shutil.copytree(FIXTURES / "alembic_project", project)
    for name in revision_files:
        shutil.copy(REVISIONS / name, project / "migrations" / "versions" / name)
    return project


def lint(project: Path, **inputs: object) -> tuple[list[tuple[str, str, int | None]], object]:
    """(rule, file name, line) of every blocking finding, and the report."""
    defaults: dict[str, object] = {"python": sys.executable, "since": "0003", "drift_check": False}
    report = lint_migrations(
        MigrationLintInputs.model_validate({"alembic_dir": str(project), **defaults, **inputs}),
        Console(env={}, stdout=io.StringIO(), stderr=io.StringIO()),
    )
    found = [(f.rule, Path(f.file or "").name, f.line) for f in report.blocking]
    return found, report


def op_line(revision_file: str, needle: str) -> int:
    """The 1-based line of the `op.` call in a revision fixture."""
    lines = (REVISIONS / revision_file).read_text().splitlines()
    return next(number for number, text in enumerate(lines, 1) if needle in text)


@pytest.mark.parametrize(
    ("revision_file", "rule", "call"),
    [
        ("drop_column.py", "ban-drop-column", "op.drop_column"),
        ("drop_table.py", "ban-drop-table", "op.drop_table"),
        ("rename_column.py", "renaming-column", "op.alter_column"),
        ("rename_table.py", "renaming-table", "op.rename_table"),
        ("change_column_type.py", "changing-column-type", "op.alter_column"),
        ("set_not_null.py", "adding-not-nullable-field", "op.alter_column"),
        ("add_required_column.py", "adding-required-field", "op.add_column"),
        ("index_not_concurrent.py", "require-concurrent-index-creation", "op.create_index"),
        ("missing_lock_timeout.py", "require-lock-timeout", "op.add_column"),
    ],
)
def test_each_rule_is_reported_on_the_line_of_its_op_call(
    tmp_path: Path, revision_file: str, rule: str, call: str
) -> None:
    found, _ = lint(project_with(tmp_path, revision_file))

    assert (rule, revision_file, op_line(revision_file, call)) in found
    assert {each[0] for each in found} == {rule}


@pytest.mark.postgres
def test_a_clean_expand_only_migration_passes_every_check(
    tmp_path: Path, fresh_database: str
) -> None:
    project = project_with(tmp_path, "expand_only.py")
    models = project / "models.py"
    models.write_text(
        models.read_text().replace(
            'sa.Index("ix_items_name", "name"),',
            'sa.Column("note", sa.Text(), nullable=True),\n'
            '    sa.Index("ix_items_name", "name"),\n'
            '    sa.Index("ix_items_note", "note"),',
        )
    )

    # Its SET lock_timeout is PostgreSQL's: `alembic check` migrates a PostgreSQL scratch database.
    found, report = lint(project, drift_check=True, check_database_url=fresh_database)

    assert found == []
    assert report.revisions == ["expand_only"]  # type: ignore[attr-defined]


def test_a_reasoned_opt_out_passes_and_is_shown_in_the_summary(tmp_path: Path) -> None:
    project = project_with(tmp_path, "opt_out_with_reason.py")
    summary = tmp_path / "summary.md"
    console = Console(
        env={"GITHUB_STEP_SUMMARY": str(summary)}, stdout=io.StringIO(), stderr=io.StringIO()
    )

    code = execute(
        MIGRATION_LINT,
        {
            "alembic_dir": str(project),
            "since": "0003",
            "python": sys.executable,
            "drift_check": False,
        },
        console,
    )

    assert code == 0, console.stderr.getvalue()  # type: ignore[attr-defined]
    assert "| `ban-drop-column` | unused since release 41 (#123) |" in summary.read_text()


def test_an_opt_out_without_a_reason_is_refused(tmp_path: Path) -> None:
    found, _ = lint(project_with(tmp_path, "opt_out_without_reason.py"))

    line = op_line("opt_out_without_reason.py", "op.drop_column")
    assert found == [
        ("ban-drop-column", "opt_out_without_reason.py", line),
        ("opt-out-without-reason", "opt_out_without_reason.py", line),
    ]


def test_two_heads_are_reported(tmp_path: Path) -> None:
    project = project_with(tmp_path, "expand_only.py", "missing_lock_timeout.py")

    found, _ = lint(project)

    heads = {(rule, name) for rule, name, _ in found if rule == "multiple-heads"}
    assert heads == {
        ("multiple-heads", "expand_only.py"),
        ("multiple-heads", "missing_lock_timeout.py"),
    }


def test_models_that_the_migrations_do_not_produce_are_drift(tmp_path: Path) -> None:
    project = project_with(tmp_path)
    models = project / "models.py"
    models.write_text(
        models.read_text().replace(
            'sa.Column("name", sa.String(100), nullable=False),',
            'sa.Column("name", sa.String(100), nullable=False),\n'
            '    sa.Column("colour", sa.Text(), nullable=True),',
        )
    )

    found, _ = lint(project, drift_check=True)

    assert [rule for rule, _, _ in found] == ["models-drift"]


def test_every_revision_of_the_example_service_is_n_minus_1_safe(example_python: Path) -> None:
    found, report = lint(EXAMPLE_SERVICE, since="", python=str(example_python), drift_check=True)

    assert found == []
    assert report.heads == ["0003"]  # type: ignore[attr-defined]


def test_an_unknown_since_revision_is_bad_input_naming_since(tmp_path: Path) -> None:
    console = Console(env={"GITHUB_ACTIONS": "true"}, stdout=io.StringIO(), stderr=io.StringIO())

    code = execute(
        MIGRATION_LINT,
        {
            "alembic_dir": str(project_with(tmp_path)),
            "since": "nosuchrev",
            "python": sys.executable,
        },
        console,
    )

    assert code == 2
    output = console.stdout.getvalue() + console.stderr.getvalue()  # type: ignore[attr-defined]
    errors = [line for line in output.splitlines() if line.startswith("::error")]
    assert len(errors) == 1
    assert "input 'since': 'nosuchrev' is not a revision of" in errors[0]
    assert "Can't locate revision identified by 'nosuchrev'" in errors[0]
    assert "Traceback" not in output


def test_the_cli_exits_2_on_an_unknown_since_revision(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "fastapi_ci",
            "migration-lint",
            "--alembic-dir",
            str(project_with(tmp_path)),
            "--since",
            "nosuchrev",
            "--python",
            sys.executable,
        ],
        env={**os.environ, "GITHUB_ACTIONS": "true"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 2, done.stdout + done.stderr
    errors = [line for line in done.stdout.splitlines() if line.startswith("::error")]
    assert len(errors) == 1, done.stdout
    assert errors[0].startswith("::error title=migration-lint::input 'since': 'nosuchrev'")
