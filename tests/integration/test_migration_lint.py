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
from fastapi_ci.migrate_once.lint import LintReport, MigrationLintInputs, lint_migrations
from tests.support.components import EXAMPLE_SERVICE, REPO_ROOT, Postgres, postgres_settings

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


# --- real project shapes (tests/fixtures/projects/) ----------------------------------------

SETTINGS_PROJECT = REPO_ROOT / "tests" / "fixtures" / "projects" / "env-settings-postgres"


def public_tables(url: str) -> list[str]:
    """The tables in the public schema of the database at `url`."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        rows = connection.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return [str(row[0]) for row in rows.fetchall()]


def scratch_databases(postgres: Postgres) -> set[str]:
    """Databases the drift check created on the server (and must have dropped)."""
    import psycopg

    with psycopg.connect(postgres.url, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'fastapi_ci_drift_%'"
        )
        return {str(row[0]) for row in rows.fetchall()}


def lint_settings_project(
    monkeypatch: pytest.MonkeyPatch, real_database: str, **inputs: object
) -> tuple[LintReport, str]:
    """migration-lint on the env-settings-postgres fixture, its settings on `real_database`."""
    for name, value in postgres_settings(real_database).items():
        monkeypatch.setenv(name, value)
    stderr = io.StringIO()
    report = lint_migrations(
        MigrationLintInputs.model_validate(
            {"alembic_dir": str(SETTINGS_PROJECT), "python": sys.executable, **inputs}
        ),
        Console(env={}, stdout=io.StringIO(), stderr=stderr),
    )
    return report, stderr.getvalue()


# Revision 0003 adds a foreign key to tables that 0001 and 0002 created: on a live database
# both exist (and may be busy) when it runs.
SETTINGS_PROJECT_FINDINGS = {
    ("require-lock-timeout", "0003"),
    ("constraint-missing-not-valid", "0003"),
    ("adding-foreign-key-constraint", "0003"),
}


@pytest.mark.postgres
def test_an_env_py_ignoring_the_url_never_migrates_the_real_database(
    monkeypatch: pytest.MonkeyPatch, fresh_database: str
) -> None:
    # Without check-database-url the throwaway is SQLite; env.py builds a PostgreSQL URL
    # from POSTGRES_* (the "real" database here): nothing can be steered, so nothing runs.
    report, stderr = lint_settings_project(monkeypatch, fresh_database)

    assert public_tables(fresh_database) == []
    assert report.drift_checked is False
    assert "env.py connects to a postgresql database" in (report.drift_skipped_because or "")
    assert "warning: [migration-lint] drift check skipped" in stderr
    # squawk's findings are all there, the drift check's failure drops none of them.
    assert {(f.rule, f.revision) for f in report.blocking} == SETTINGS_PROJECT_FINDINGS


@pytest.mark.postgres
def test_the_drift_check_is_steered_to_a_scratch_database_it_creates_and_drops(
    monkeypatch: pytest.MonkeyPatch, fresh_database: str, postgres: Postgres
) -> None:
    before = scratch_databases(postgres)

    report, stderr = lint_settings_project(
        monkeypatch, fresh_database, check_database_url=postgres.url
    )

    assert report.drift_checked is True, stderr
    assert report.drift_skipped_because is None
    assert public_tables(fresh_database) == []
    assert scratch_databases(postgres) - before == set()
    assert {(f.rule, f.revision) for f in report.blocking} == SETTINGS_PROJECT_FINDINGS


@pytest.mark.postgres
def test_models_drift_is_found_on_the_steered_scratch_database(
    monkeypatch: pytest.MonkeyPatch, fresh_database: str, postgres: Postgres, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    shutil.copytree(SETTINGS_PROJECT, project)
    models = project / "app" / "models.py"
    models.write_text(
        models.read_text().replace(
            'sa.Column("title", sa.String(255), nullable=False),',
            'sa.Column("title", sa.String(255), nullable=False),\n'
            '    sa.Column("colour", sa.Text(), nullable=True),',
        )
    )

    report, _ = lint_settings_project(
        monkeypatch, fresh_database, check_database_url=postgres.url, alembic_dir=str(project)
    )

    assert [f.rule for f in report.blocking if f.rule == "models-drift"] == ["models-drift"]
    assert report.drift_checked is True
    assert public_tables(fresh_database) == []


def test_a_revision_the_check_database_cannot_run_keeps_squawk_findings(
    tmp_path: Path, example_python: Path
) -> None:
    # SQLite cannot drop a primary key column: the drift check fails, the lint does not.
    project = tmp_path / "example"
    shutil.copytree(EXAMPLE_SERVICE, project, ignore=shutil.ignore_patterns(".venv"))
    (project / "app" / "alembic" / "versions" / "0004_drop_items_id.py").write_text(
        '"""Drop items.id."""\n\nfrom alembic import op\n\n'
        'revision = "0004"\ndown_revision = "0003"\n\n\n'
        "def upgrade() -> None:\n"
        '    op.drop_column("items", "id")\n'
    )

    found, report = lint(project, since="0003", python=str(example_python), drift_check=True)

    assert {rule for rule, _, _ in found} == {"ban-drop-column", "require-lock-timeout"}
    assert ("ban-drop-column", "0004_drop_items_id.py", 10) in found
    assert report.drift_checked is False  # type: ignore[attr-defined]
    assert "DROP COLUMN id" in (report.drift_skipped_because or "")  # type: ignore[attr-defined]


def test_findings_do_not_depend_on_how_many_revisions_are_linted_together() -> None:
    console = Console(env={}, stdout=io.StringIO(), stderr=io.StringIO())

    def findings(since: str) -> set[tuple[str, str | None, int | None]]:
        inputs = MigrationLintInputs.model_validate(
            {
                "alembic_dir": str(SETTINGS_PROJECT),
                "python": sys.executable,
                "since": since,
                "drift_check": False,
            }
        )
        return {(f.rule, f.revision, f.line) for f in lint_migrations(inputs, console).findings}

    # Every finding is 0003's: linted alone, or after the revisions that created its tables.
    alone = findings("0002")
    assert findings("") == findings("0001") == alone
    assert {(rule, revision) for rule, revision, _ in alone} == SETTINGS_PROJECT_FINDINGS
