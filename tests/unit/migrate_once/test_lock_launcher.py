"""The lock launcher as shipped: what it is made of and where it can run."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from fastapi_ci.migrate_once.lock_launcher import launcher_command, launcher_program

# ECS refuses container overrides over 8192 characters (command and environment together).
ECS_OVERRIDES_LIMIT = 8192


def test_the_launcher_parses_as_python_3_8_for_older_images() -> None:
    program = launcher_program()

    ast.parse(program, feature_version=(3, 8))
    embedded = next(
        node.value.value
        for node in ast.parse(program).body
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and node.targets[0].id == "MIGRATION_LOCK_SOURCE"
        and isinstance(node.value, ast.Constant)
    )
    ast.parse(embedded, feature_version=(3, 8))
    assert "def migration_lock(" in embedded


def test_the_wrapped_command_leaves_room_in_ecs_overrides() -> None:
    command = launcher_command(["alembic", "upgrade", "head"], "python3")

    assert len(json.dumps(command)) < ECS_OVERRIDES_LIMIT - 2000  # room for env overrides


def test_a_command_that_is_no_python_program_runs_unlocked_after_a_warning(
    tmp_path: Path,
) -> None:
    script = tmp_path / "migrate.sh"
    script.write_text('#!/bin/sh\necho migrated "$@"\n')
    script.chmod(0o755)

    done = subprocess.run(
        launcher_command([str(script), "up"], sys.executable),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout == "migrated up\n"
    assert (
        f"no migration lock: {str(script)!r} is not a Python program migrate-once can run"
        in done.stderr
    )


def test_a_missing_command_exits_127_naming_it() -> None:
    done = subprocess.run(
        launcher_command(["no-such-migrator", "up"], sys.executable),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 127
    assert "[fastapi-ci.migrate-once] command not found: no-such-migrator" in done.stderr


def test_a_sqlite_migration_runs_under_the_file_lock(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "migrations" / "versions").mkdir(parents=True)
    (project / "alembic.ini").write_text("[alembic]\nscript_location = migrations\n")
    (project / "migrations" / "env.py").write_text(
        "from alembic import context\nfrom sqlalchemy import create_engine\n"
        f"engine = create_engine('sqlite:///{tmp_path}/app.db')\n"
        "with engine.connect() as connection:\n"
        "    context.configure(connection=connection)\n"
        "    with context.begin_transaction():\n"
        "        context.run_migrations()\n"
    )
    (project / "migrations" / "versions" / "0001_t.py").write_text(
        "from alembic import op\nimport sqlalchemy as sa\n"
        "revision = '0001'\ndown_revision = None\n"
        "def upgrade():\n    op.create_table('t', sa.Column('id', sa.Integer, primary_key=True))\n"
    )

    done = subprocess.run(
        launcher_command([sys.executable, "-m", "alembic", "upgrade", "head"], sys.executable),
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert "migration lock 'fastapi-ci-migrate-once' acquired after" in done.stderr
    assert "released; database at revision '0001'" in done.stderr
    assert (tmp_path / "app.db-fastapi-ci-migrate-once.lock").exists()
