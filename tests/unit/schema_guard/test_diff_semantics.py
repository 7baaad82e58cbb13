"""What is NOT a change, and the semantics the diff relies on (refs, nullability, sunsets…)."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import pytest

from fastapi_ci.openapi_document import load_document
from fastapi_ci.schema_guard.diff import diff_documents
from fastapi_ci.schema_guard.report import Change
from tests.unit.schema_guard.conftest import FIXTURES, app_spec, find_change

JSON_200 = "response 200 application/json"


def _document(
    schemas: dict[str, Any],
    *,
    response: dict[str, Any] | None = None,
    operation: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A minimal 3.1 document: `GET /things` answering `response` (default: `$ref Thing`)."""
    schema = response if response is not None else {"$ref": "#/components/schemas/Thing"}
    get = {
        "responses": {
            "200": {"description": "ok", "content": {"application/json": {"schema": schema}}}
        }
    }
    get.update(operation or {})
    return {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {"/things": {"get": get}},
        "components": {"schemas": schemas},
    }


def _reversed_keys(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: _reversed_keys(node[key]) for key in reversed(list(node))}
    if isinstance(node, list):
        return [_reversed_keys(item) for item in node]
    return node


def test_identical_documents_have_no_changes() -> None:
    spec = app_spec("shop_v1")
    assert diff_documents(spec, copy.deepcopy(spec)) == []


def test_key_order_is_never_a_change() -> None:
    spec = app_spec("shop_v2")
    assert diff_documents(spec, _reversed_keys(spec)) == []


def test_renamed_model_with_the_same_shape_is_not_a_change() -> None:
    before = app_spec("renamed_models", "app_before")
    after = app_spec("renamed_models", "app_after")
    assert "Person" in after["components"]["schemas"]
    assert "Owner" not in after["components"]["schemas"]
    assert diff_documents(before, after) == []


def test_renamed_path_parameter_is_the_same_endpoint() -> None:
    base = _document({"Thing": {"type": "string"}})
    base["paths"] = {"/things/{thing_id}": base["paths"]["/things"]}
    revision = copy.deepcopy(base)
    revision["paths"] = {"/things/{id}": revision["paths"].pop("/things/{thing_id}")}
    assert diff_documents(base, revision) == []


def test_yaml_openapi_3_0_documents_are_compared_semantically() -> None:
    base = load_document(FIXTURES / "petstore_v1.yaml", input_name="base")
    revision = load_document(FIXTURES / "petstore_v2.yaml", input_name="revision")
    changes = diff_documents(base, revision)
    # Path renamed to `/pets/{id}` and `Pet` rebuilt with allOf: neither is a change.
    assert {(c.id, c.level, c.operation, c.location) for c in changes} == {
        ("request-parameter-max-decreased", "error", "GET /pets", "query parameter limit"),
        (
            "required-response-header-removed",
            "error",
            "GET /pets/{id}",
            "response 200 header X-Rate-Limit",
        ),
        ("response-property-became-nullable", "error", "GET /pets/{id}", f"{JSON_200}: tag"),
        ("response-property-type-changed", "error", "GET /pets/{id}", f"{JSON_200}: born"),
    }


@pytest.mark.parametrize(
    "nullable_name",
    [
        {"anyOf": [{"type": "string"}, {"type": "null"}]},  # FastAPI's Optional[str]
        {"type": ["string", "null"]},  # OpenAPI 3.1
        {"type": "string", "nullable": True},  # OpenAPI 3.0
    ],
    ids=["anyOf-null", "type-list", "nullable-3.0"],
)
def test_response_property_that_became_nullable_is_breaking(nullable_name: dict[str, Any]) -> None:
    thing: dict[str, Any] = {
        "type": "object",
        "properties": {"name": {"type": "string"}},
        "required": ["name"],
    }
    nullable_thing = copy.deepcopy(thing)
    nullable_thing["properties"]["name"] = nullable_name
    changes = diff_documents(_document({"Thing": thing}), _document({"Thing": nullable_thing}))
    assert [(c.id, c.level, c.location) for c in changes] == [
        ("response-property-became-nullable", "error", f"{JSON_200}: name")
    ]


def test_recursive_schemas_terminate_and_report_a_deep_change_once() -> None:
    schemas: dict[str, Any] = {
        "Tree": {
            "type": "object",
            "properties": {
                "forest": {"$ref": "#/components/schemas/Forest"},
                "leaf": {"type": "string"},
            },
        },
        "Forest": {"type": "array", "items": {"$ref": "#/components/schemas/Tree"}},
    }
    revised = copy.deepcopy(schemas)
    revised["Tree"]["properties"]["leaf"] = {"type": "integer"}
    changes = diff_documents(
        _document(schemas, response={"$ref": "#/components/schemas/Tree"}),
        _document(revised, response={"$ref": "#/components/schemas/Tree"}),
    )
    assert [(c.id, c.location) for c in changes] == [
        ("response-property-type-changed", f"{JSON_200}: leaf")
    ]


def test_nested_change_is_located_by_its_property_path() -> None:
    owner = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    schemas = {
        "Owner": owner,
        "Thing": {
            "type": "object",
            "properties": {"owner": {"$ref": "#/components/schemas/Owner"}},
        },
    }
    revised = copy.deepcopy(schemas)
    revised["Owner"]["required"] = []
    page = {
        "type": "object",
        "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Thing"}}},
    }
    changes = diff_documents(_document(schemas, response=page), _document(revised, response=page))
    assert [(c.id, c.location) for c in changes] == [
        ("response-property-became-optional", f"{JSON_200}: items[].owner.name")
    ]


def test_request_type_generalized_from_integer_to_number_is_not_breaking() -> None:
    base = _document({"Thing": {"type": "string"}})
    revision = copy.deepcopy(base)
    parameter = {"name": "size", "in": "query", "schema": {"type": "integer"}}
    base["paths"]["/things"]["get"]["parameters"] = [parameter]
    revision["paths"]["/things"]["get"]["parameters"] = [
        {**parameter, "schema": {"type": "number"}}
    ]
    [change] = diff_documents(base, revision)
    assert (change.id, change.level) == ("request-parameter-type-generalized", "info")


def test_read_only_property_added_as_required_does_not_break_requests() -> None:
    base = _document({"Thing": {"type": "object", "properties": {}}})
    base["paths"]["/things"]["post"] = {
        "requestBody": {
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}
        },
        "responses": {"204": {"description": "done"}},
    }
    revision = copy.deepcopy(base)
    revision["components"]["schemas"]["Thing"] = {
        "type": "object",
        "properties": {"id": {"type": "integer", "readOnly": True}},
        "required": ["id"],
    }
    changes = diff_documents(base, revision)
    assert [(c.id, c.operation) for c in changes] == [
        ("response-required-property-added", "GET /things")
    ]


def test_global_security_added_is_breaking() -> None:
    before = app_spec("global_security", "app_before")
    after = app_spec("global_security", "app_after")
    [change] = [c for c in diff_documents(before, after) if c.location == "security"]
    assert (change.id, change.level, change.operation, change.location) == (
        "api-global-security-added",
        "error",
        None,
        "security",
    )


def test_security_alternative_added_to_an_authenticated_operation_is_not_breaking() -> None:
    base = _document({"Thing": {"type": "string"}}, operation={"security": [{"Bearer": []}]})
    revision = _document(
        {"Thing": {"type": "string"}}, operation={"security": [{"Bearer": []}, {"ApiKey": []}]}
    )
    [change] = diff_documents(base, revision)
    assert (change.id, change.level) == ("api-security-added", "info")


def test_security_scope_added_is_breaking() -> None:
    base = _document({"Thing": {"type": "string"}}, operation={"security": [{"OAuth": ["read"]}]})
    revision = _document(
        {"Thing": {"type": "string"}}, operation={"security": [{"OAuth": ["read", "admin"]}]}
    )
    [change] = diff_documents(base, revision)
    assert (change.id, change.level) == ("api-security-scope-added", "error")


@pytest.mark.parametrize(
    ("sunset", "rule", "level"),
    [
        ("2030-01-01", "api-path-removed-before-sunset", "error"),
        ("2020-01-01", "api-path-removed-with-deprecation", "info"),
    ],
)
def test_deprecated_endpoint_removed_before_its_sunset_is_breaking(
    sunset: str, rule: str, level: str
) -> None:
    base = _document(
        {"Thing": {"type": "string"}}, operation={"deprecated": True, "x-sunset": sunset}
    )
    revision = _document({"Thing": {"type": "string"}})
    revision["paths"] = {}
    [change] = diff_documents(base, revision, today=date(2025, 6, 1))
    assert (change.id, change.level, change.operation) == (rule, level, "GET /things")


@pytest.mark.parametrize(
    ("base_variants", "revision_variants", "rule", "level"),
    [
        (
            [{"type": "string"}],
            [{"type": "string"}, {"type": "integer"}],
            "response-body-list-of-types-widened",
            "error",
        ),
        (
            [{"type": "string"}, {"type": "integer"}],
            [{"type": "string"}],
            "response-body-list-of-types-narrowed",
            "info",
        ),
    ],
)
def test_response_union_that_gained_a_variant_is_breaking(
    base_variants: list[Any], revision_variants: list[Any], rule: str, level: str
) -> None:
    changes = diff_documents(
        _document({}, response={"anyOf": base_variants}),
        _document({}, response={"anyOf": revision_variants}),
    )
    assert [(c.id, c.level, c.location) for c in changes] == [(rule, level, JSON_200)]


def test_model_that_became_a_union_containing_it_keeps_comparing_the_model() -> None:
    schemas = {
        "Thing": {"type": "object", "properties": {"id": {"type": "string"}}},
        "Gone": {"type": "object", "properties": {"deleted": {"type": "boolean"}}},
    }
    revision = _document(
        schemas,
        response={
            "anyOf": [{"$ref": "#/components/schemas/Thing"}, {"$ref": "#/components/schemas/Gone"}]
        },
    )
    changes = diff_documents(_document(schemas), revision)
    assert [(c.id, c.level, c.location) for c in changes] == [
        ("response-body-any-of-added", "error", JSON_200)
    ]


def test_unchanged_shared_model_is_compared_once_per_direction(shop_changes: list[Change]) -> None:
    # Color is only in responses, Size only in requests: each change has one direction.
    color = find_change(
        shop_changes,
        "response-property-enum-value-added",
        "GET /items/{item_id}",
        f"{JSON_200}: color",
    )
    assert "'yellow'" in color.message
    assert not any(c.id.startswith("request-") and "color" in c.location for c in shop_changes)


def _when_document(fmt: str) -> dict[str, object]:
    """One endpoint taking and returning a `when` string of the given format."""
    schema = {
        "type": "object",
        "properties": {"when": {"type": "string", "format": fmt}},
        "required": ["when"],
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/events": {
                "post": {
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": schema}},
                    },
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {"application/json": {"schema": schema}},
                        }
                    },
                }
            }
        },
    }


def test_a_format_change_is_breaking_in_both_directions() -> None:
    changes = diff_documents(_when_document("date"), _when_document("date-time"))
    found = {(c.id, c.level) for c in changes}
    assert ("request-property-type-changed", "error") in found
    assert ("response-property-type-changed", "error") in found
    assert all("when" in c.location for c in changes)
