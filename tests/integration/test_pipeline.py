"""The main job (`bash .ci/pipeline`) on a machine without its components.

Every component is treated as absent (`FASTAPI_CI_PIPELINE_WITHOUT`), as on a laptop without
root or Docker: the stages that need none still run for real, migrate-once on SQLite, and the
others are skipped, each saying what it needs. The full path (engine, registry, PostgreSQL,
Swarm) is the job itself; it deploys and is too slow to run as a test.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
from pathlib import Path

from alembic.script import ScriptDirectory

from tests.support.components import EXAMPLE_SERVICE, REPO_ROOT

PIPELINE_TIMEOUT_SECONDS = 900
RUN_WITHOUT_COMPONENTS = ("example-venv", "quality-gate", "schema-guard", "migration-lint",
                          "migrate-once")  # fmt: skip
DEPLOY_NEEDS = ("a Docker engine", "the registry", "PostgreSQL")
NEED_COMPONENTS = {
    "build-push": ("a Docker engine", "the registry"),
    "verify-baseline": DEPLOY_NEEDS,
    "rollout": DEPLOY_NEEDS,
    "wait-stable": DEPLOY_NEEDS,
    "verify": DEPLOY_NEEDS,
}


def results_table(output: str) -> dict[str, tuple[str, str]]:
    """stage -> (result, note) from the table the pipeline ends with."""
    table = output[output.rindex("\nSTAGE ") :].splitlines()[2:]
    rows = (re.match(r"(\S+)\s+(\S+)\s+(\S+)\s*(.*)$", line) for line in table)
    return {row[1]: (row[2], row[4]) for row in rows if row}


def test_pipeline_without_components_runs_what_needs_none_and_names_what_the_rest_need(
    tmp_path: Path,
) -> None:
    database = tmp_path / "example-service.db"
    run = subprocess.run(
        ["bash", str(REPO_ROOT / ".ci" / "pipeline")],
        env={
            **os.environ,
            "FASTAPI_CI_PIPELINE_WITHOUT": "docker,registry,postgres,swarm,base-image",
            "FASTAPI_CI_PIPELINE_SQLITE": str(database),
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=PIPELINE_TIMEOUT_SECONDS,
        check=False,
    )
    output = run.stdout
    assert run.returncode == 0, output[-6000:]

    table = results_table(output)
    stages = [*RUN_WITHOUT_COMPONENTS[:4], "build-push", "migrate-once", "verify-baseline",
              "rollout", "wait-stable", "verify"]  # fmt: skip
    assert list(table) == stages, output[-3000:]
    for stage in RUN_WITHOUT_COMPONENTS:
        assert table[stage][0] == "ok", (stage, output[-3000:])
    assert table["migration-lint"][1] == "every revision (no database)"
    assert table["migrate-once"][1] == "local runner, SQLite"

    for stage, needs in NEED_COMPONENTS.items():
        result, note = table[stage]
        assert result == "skipped", (stage, output[-3000:])
        lines = [line for line in output.splitlines() if line.startswith(f"{stage}: skipped")]
        assert len(lines) == 1, (stage, lines)
        assert lines[0] == f"{stage}: skipped — {note}"
        for need in needs:
            assert f"{need} (listed in FASTAPI_CI_PIPELINE_WITHOUT)" in note, (stage, note)

    head = ScriptDirectory(str(EXAMPLE_SERVICE / "app" / "alembic")).get_current_head()
    with sqlite3.connect(database) as connection:
        revisions = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    assert revisions == [(head,)]
