"""Streamed container logs become whole lines, however the bytes were chunked."""

from __future__ import annotations

from fastapi_ci.migrate_once.runners import log_lines


def test_a_line_split_across_chunks_comes_out_whole() -> None:
    assert list(log_lines([b"INFO  [alembic] Run", b"ning upgrade\nDONE\n"])) == [
        "INFO  [alembic] Running upgrade\n",
        "DONE\n",
    ]


def test_a_character_split_across_chunks_is_not_replaced() -> None:
    text = "créé → ✓\n".encode()
    split = text.index("✓".encode()) + 1  # inside the three bytes of ✓
    assert list(log_lines([text[:split], text[split:]])) == ["créé → ✓\n"]


def test_a_last_line_without_newline_is_kept() -> None:
    assert list(log_lines([b"one\ntw", b"o"])) == ["one\n", "two"]


def test_invalid_bytes_become_replacement_characters_not_errors() -> None:
    assert list(log_lines([b"bad \xff byte\n"])) == ["bad \ufffd byte\n"]
