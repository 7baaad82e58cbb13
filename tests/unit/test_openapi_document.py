"""Loading OpenAPI documents: JSON and YAML in, one clear InputError for anything else."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fastapi_ci.errors import EXIT_BAD_INPUT, InputError
from fastapi_ci.openapi_document import dump_document, load_document
from tests.unit.schema_guard.conftest import FIXTURES, app_spec


def test_json_document_is_loaded(tmp_path: Path) -> None:
    spec = app_spec("shop_v1")
    path = tmp_path / "openapi.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    assert load_document(path, input_name="golden") == spec


def test_yaml_document_keeps_json_types() -> None:
    document = load_document(FIXTURES / "petstore_v1.yaml", input_name="base")
    # Unquoted status codes are strings and dates stay strings, as in a JSON document.
    assert list(document["paths"]["/pets"]["get"]["responses"]) == ["200"]
    assert document["components"]["schemas"]["Pet"]["properties"]["born"]["example"] == "2020-01-31"


def test_dump_is_deterministic_sorted_and_ends_with_a_newline() -> None:
    text = dump_document({"b": 1, "a": {"é": [2, 1]}})
    assert text == '{\n  "a": {\n    "é": [\n      2,\n      1\n    ]\n  },\n  "b": 1\n}\n'
    assert dump_document(json.loads(text)) == text


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{ this is: [not valid", "not valid JSON or YAML"),
        ("- just\n- a list\n", "not an OpenAPI document (the file is a list, not a mapping)"),
        ("", "not an OpenAPI document (the file is empty, not a mapping)"),
        ("title: a config file\n", "not an OpenAPI document (no 'openapi' field)"),
        ('{"swagger": "2.0", "paths": {}}', "Swagger 2.0 is not supported"),
        ('{"openapi": "2.5.0", "paths": {}}', "OpenAPI version '2.5.0' is not supported"),
        ('{"openapi": "3.1.0", "paths": []}', "'paths' is not a mapping"),
    ],
    ids=["not-json-or-yaml", "list", "empty", "no-openapi", "swagger-2", "version", "paths"],
)
def test_non_openapi_file_is_an_input_error_naming_the_file(
    tmp_path: Path, content: str, expected: str
) -> None:
    path = tmp_path / "my spec.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as raised:
        load_document(path, input_name="golden")
    assert raised.value.input_name == "golden"
    assert raised.value.exit_code == EXIT_BAD_INPUT
    assert raised.value.message.startswith(f"input 'golden': {path}: ")
    assert expected in raised.value.message


def test_missing_file_is_an_input_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.json"
    with pytest.raises(InputError, match=r"input 'base': .*missing\.json: no such file"):
        load_document(path, input_name="base")


def test_binary_file_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "openapi.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(InputError, match="not a UTF-8 text file"):
        load_document(path, input_name="revision")


def test_directory_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot be read"):
        load_document(tmp_path, input_name="golden")
