"""Regenerate openapi.json, the committed golden copy of the API schema.

Usage: python scripts/export_openapi.py
"""

import json
import sys
from pathlib import Path

SERVICE_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(SERVICE_DIR))

from app.main import app  # noqa: E402 - needs the path set above


def main() -> None:
    """Write the schema exactly as committed: sorted keys, two-space indent, final newline."""
    schema = json.dumps(app.openapi(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    (SERVICE_DIR / "openapi.json").write_text(schema, encoding="utf-8")


if __name__ == "__main__":
    main()
