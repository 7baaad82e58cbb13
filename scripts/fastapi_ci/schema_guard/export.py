"""Export a FastAPI app's OpenAPI document without starting a server.

The app is imported by the PROJECT's interpreter (which has the app's dependencies), not by
fastapi-ci's own isolated environment: `_import_app.py` runs there and writes the document to
a temporary file that this side reads back.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from fastapi_ci.errors import InputError
from fastapi_ci.project_python import find_project_python

_IMPORT_SCRIPT = Path(__file__).with_name("_import_app.py")
APP_TARGET = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
IMPORT_TIMEOUT_SECONDS = 120

# _import_app.py's exit codes that mean "the app input is wrong" (import error, no such
# attribute, not a FastAPI app); anything else is the interpreter itself failing.
_APP_INPUT_FAILURES = {3, 4, 5}


def export_openapi(app: str, app_dir: Path, python: str | None = None) -> dict[str, Any]:
    """Import `MODULE:ATTR` from `app_dir` and return `app.openapi()`."""
    if not APP_TARGET.match(app):
        raise InputError("app", f"expected MODULE:ATTRIBUTE such as app.main:app, got {app!r}")
    if not app_dir.is_dir():
        raise InputError(
            "app-dir",
            f"{app_dir} is not a directory",
            why="the app's module is imported from this directory, as uvicorn would import it",
            fix="give the directory that holds the app's package, relative to the working "
            "directory (and check the job checked the repository out)",
            docs="schema-guard#schema-guard",
        )
    interpreter = find_project_python(app_dir, python)
    with tempfile.TemporaryDirectory(prefix="fastapi-ci-openapi-") as scratch:
        output = Path(scratch) / "openapi.json"
        try:
            completed = subprocess.run(
                [interpreter, str(_IMPORT_SCRIPT), app, str(app_dir.resolve()), str(output)],
                cwd=app_dir,
                env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
                capture_output=True,
                text=True,
                timeout=IMPORT_TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise InputError(
                "app",
                f"importing {app} took longer than {IMPORT_TIMEOUT_SECONDS}s",
                why="the schema is read from the app itself, which is imported, not served",
                fix="move work done at import (connections, downloads) into the app's lifespan",
                docs="schema-guard#schema-guard",
            ) from None
        # The app may log to stderr while importing: the reason is the last line.
        reason = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        if completed.returncode in _APP_INPUT_FAILURES:
            raise InputError(
                "app",
                reason,
                why="the schema is read from the app itself, so its module must import with "
                "the project's dependencies and no running services",
                fix="run `fastapi-ci schema-export --app ...` locally to see the same error",
                docs="schema-guard#schema-guard",
            )
        if completed.returncode != 0:
            raise InputError(
                "python",
                f"{interpreter} failed to export {app}: {reason}",
                why="the app is imported with the project's interpreter, which has its "
                "dependencies (FastAPI included)",
                fix="set python to the interpreter of the project's environment "
                "(e.g. .venv/bin/python after installing it)",
                docs="schema-guard#schema-guard",
            )
        document: dict[str, Any] = json.loads(output.read_text(encoding="utf-8"))
        return document
