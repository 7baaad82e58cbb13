"""Tests of the example service, laid out like app/."""

from pathlib import Path

SERVICE_DIR = Path(__file__).resolve().parents[1]
