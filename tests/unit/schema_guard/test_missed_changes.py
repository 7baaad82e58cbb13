"""Changes schema-guard used to miss or misjudge (issue #16), each named after the behaviour."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from fastapi_ci.schema_guard import compare_documents
from fastapi_ci.schema_guard.diff import diff_documents
from fastapi_ci.schema_guard.report import Change
from tests.unit.schema_guard.conftest import run

BODY = "request body application/json"


def _spec(
    *,
    body: dict[str, Any] | None = None,
    parameters: list[dict[str, Any]] | None = None,
    media: dict[str, Any] | None = None,
    schemas: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A 3.1 document with `POST /things` taking `body` (or `media` as is) and `parameters`."""
    post: dict[str, Any] = {"responses": {"200": {"description": "ok"}}}
    if body is not None or media is not None:
        content = media if media is not None else {"schema": body}
        post["requestBody"] = {"content": {"application/json": content}}
    if parameters is not None:
        post["parameters"] = parameters
    return {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {"/things": {"post": post}},
        "components": {"schemas": schemas or {}},
    }


def _ids(changes: list[Change]) -> list[tuple[str, str]]:
    return sorted((c.id, c.level) for c in changes)


# -- FastAPI response semantics ---------------------------------------------------------------


class UserPublicV1(BaseModel):
    id: int
    full_name: str | None = None


class UserPublicV2(BaseModel):
    id: int


def _users_app(model: type[BaseModel]) -> dict[str, Any]:
    app = FastAPI(title="Users")

    @app.get("/users/{user_id}", response_model=model)
    def read_user(user_id: int) -> Any:
        return {}

    @app.get("/users", response_model=list[model])  # type: ignore[valid-type]
    def list_users() -> Any:
        return []

    return app.openapi()


def test_removed_response_field_with_a_default_is_breaking_for_a_fastapi_app() -> None:
    report, _ = compare_documents(
        _users_app(UserPublicV1),
        _users_app(UserPublicV2),
        inputs=("golden", "app"),
        semantics="auto",
        exported_by_fastapi=True,
    )
    [change] = [c for c in report.changes if c.id == "response-optional-property-removed"]
    assert change.level == "error"
    assert report.breaking
    # The array endpoint (`list[UserPublic]`) loses the field in its items too.
    assert change.affected_operations == ("GET /users", "GET /users/{user_id}")


def test_removed_response_field_with_a_default_is_info_for_a_hand_written_spec() -> None:
    report, _ = compare_documents(
        _users_app(UserPublicV1),
        _users_app(UserPublicV2),
        inputs=("base", "revision"),
        semantics="openapi",
    )
    assert not report.breaking
    assert [c.level for c in report.changes if c.id == "response-optional-property-removed"] == [
        "info"
    ]


def test_schema_diff_reads_a_fastapi_export_with_fastapi_semantics_by_default() -> None:
    report, _ = compare_documents(
        _users_app(UserPublicV1),
        _users_app(UserPublicV2),
        inputs=("base", "revision"),
        semantics="auto",
    )
    assert report.breaking


# -- path parameter names ---------------------------------------------------------------------


def test_paths_that_differ_only_in_parameter_names_are_one_path() -> None:
    ok = {"responses": {"200": {"description": "ok"}}}
    base = {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {"/items/{id}": {"get": ok}, "/items/{item_id}": {"delete": ok}},
    }
    revision = copy.deepcopy(base)
    revision["paths"] = {"/items/{item_id}": {"get": ok, "delete": ok}}
    assert diff_documents(base, revision) == []
    del revision["paths"]["/items/{item_id}"]["get"]
    assert _ids(diff_documents(base, revision)) == [("api-removed-without-deprecation", "error")]


# -- request narrowing ------------------------------------------------------------------------


def test_changed_parameter_default_is_reported() -> None:
    def parameter(default: int) -> list[dict[str, Any]]:
        return [{"name": "limit", "in": "query", "schema": {"type": "integer", "default": default}}]

    changes = diff_documents(_spec(parameters=parameter(10)), _spec(parameters=parameter(50)))
    assert _ids(changes) == [("request-parameter-default-value-changed", "warning")]


def test_media_type_that_gains_a_schema_is_breaking() -> None:
    changes = diff_documents(_spec(media={}), _spec(media={"schema": {"type": "object"}}))
    assert _ids(changes) == [("request-body-media-type-schema-added", "error")]


def test_body_wrapped_in_a_one_of_whose_branches_overlap_is_breaking() -> None:
    thing = {"type": "object", "properties": {"name": {"type": "string"}}}
    wrapped = {"oneOf": [thing, {"type": "object", "properties": {"id": {"type": "integer"}}}]}
    changes = diff_documents(_spec(body=thing), _spec(body=wrapped))
    assert _ids(changes) == [("request-body-wrapped-in-one-of-original-preserved", "error")]


_OBJECT = {"type": "object", "properties": {"kind": {"type": "string"}}}


@pytest.mark.parametrize(
    ("before", "after", "rule"),
    [
        ({"const": "a"}, {"const": "b"}, "request-property-const-changed"),
        # pydantic's `Literal["a"]`: const and a one-value enum.
        (
            {"const": "a", "enum": ["a"], "type": "string"},
            {"const": "b", "enum": ["b"], "type": "string"},
            "request-property-const-changed",
        ),
        (
            {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}]},
            {"type": "array", "prefixItems": [{"type": "integer"}]},
            "request-property-prefix-items-removed",
        ),
        (
            {"type": "integer"},
            {"type": "integer", "multipleOf": 5},
            "request-property-multiple-of-set",
        ),
        (
            {"type": "array", "items": {"type": "string"}},
            {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
            "request-property-unique-items-set",
        ),
        (
            {"type": "object"},
            {"type": "object", "additionalProperties": False},
            "request-property-additional-properties-disallowed",
        ),
    ],
)
def test_narrowed_request_property_is_reported(
    before: dict[str, Any], after: dict[str, Any], rule: str
) -> None:
    def body(kind: dict[str, Any]) -> dict[str, Any]:
        return {"type": "object", "properties": {"kind": kind}}

    changes = diff_documents(_spec(body=body(before)), _spec(body=body(after)))
    assert rule in {c.id for c in changes}
    assert any(c.level != "info" for c in changes if c.id == rule)


# -- webhooks and security schemes ------------------------------------------------------------


def _with_webhook(event: dict[str, Any] | None) -> dict[str, Any]:
    spec = _spec()
    if event is not None:
        spec["webhooks"] = {
            "orderPaid": {
                "post": {
                    "requestBody": {"content": {"application/json": {"schema": event}}},
                    "responses": {"200": {"description": "ok"}},
                }
            }
        }
    return spec


def test_removed_webhook_is_breaking() -> None:
    event = {"type": "object", "properties": {"id": {"type": "string"}}}
    changes = diff_documents(_with_webhook(event), _with_webhook(None))
    assert [(c.id, c.level, c.operation) for c in changes] == [
        ("webhook-removed", "error", "POST webhook orderPaid")
    ]


def test_webhook_payload_losing_a_required_field_is_breaking() -> None:
    # The API sends the payload: its subscribers read it like a response.
    event = {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}
    changes = diff_documents(_with_webhook(event), _with_webhook({"type": "object"}))
    assert ("request-property-removed", "warning") not in _ids(changes)
    assert [(c.level, c.operation) for c in changes] == [("error", "POST webhook orderPaid")]


def test_security_scheme_added_removed_and_retyped_is_reported() -> None:
    base, revision = _spec(), _spec()
    base["components"]["securitySchemes"] = {
        "Key": {"type": "apiKey", "in": "header", "name": "X-Key"},
        "Old": {"type": "http", "scheme": "basic"},
    }
    revision["components"]["securitySchemes"] = {
        "Key": {"type": "apiKey", "in": "query", "name": "X-Key"},
        "New": {"type": "http", "scheme": "bearer"},
    }
    assert _ids(diff_documents(base, revision)) == [
        ("api-security-component-added", "info"),
        ("api-security-component-api-key-in-changed", "error"),
        ("api-security-component-removed", "info"),
    ]


# -- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schemas", "body", "expected"),
    [
        ({}, {"$ref": "#/components/schemas/Missing"}, "points to nothing"),
        (
            {"A": {"$ref": "#/components/schemas/B"}, "B": {"$ref": "#/components/schemas/A"}},
            {"$ref": "#/components/schemas/A"},
            "$ref cycle",
        ),
        ({}, {"$ref": "other.yaml#/components/schemas/Thing"}, "another file"),
        ({}, {"type": "object", "properties": {"name": "string"}}, "not a schema object"),
    ],
    ids=["dangling", "cycle", "external", "string-schema"],
)
def test_unreadable_revision_exits_2_with_one_line_naming_it(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    schemas: dict[str, Any],
    body: dict[str, Any],
    expected: str,
) -> None:
    base = _spec(body={"type": "object", "properties": {"name": {"type": "string"}}})
    revision = _spec(body=body, schemas=schemas)
    (tmp_path / "base.json").write_text(json.dumps(base))
    (tmp_path / "revision.json").write_text(json.dumps(revision))
    assert run(["schema-diff", str(tmp_path / "base.json"), str(tmp_path / "revision.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "input 'revision'" in err[0]
    assert expected in err[0]
    assert "Traceback" not in err[0]


# -- the JSON report --------------------------------------------------------------------------


def test_json_report_lists_and_counts_the_affected_operations(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "base.json").write_text(json.dumps(_users_app(UserPublicV1)))
    (tmp_path / "revision.json").write_text(json.dumps(_users_app(UserPublicV2)))
    files = [str(tmp_path / "base.json"), str(tmp_path / "revision.json")]
    assert run(["schema-diff", *files, "--format", "json"]) == 1
    [change] = [
        c
        for c in json.loads(capsys.readouterr().out)["changes"]
        if c["id"] == "response-optional-property-removed"
    ]
    assert change["affected_operations"] == ["GET /users", "GET /users/{user_id}"]
    assert change["affected_operations_count"] == 2


def test_changed_default_beside_a_ref_is_reported() -> None:
    # FastAPI writes an enum parameter as `{"$ref": ..., "default": ...}` (OpenAPI 3.1).
    def parameter(default: str) -> list[dict[str, Any]]:
        schema = {"$ref": "#/components/schemas/Sort", "default": default}
        return [{"name": "sort", "in": "query", "schema": schema}]

    sort = {"Sort": {"type": "string", "enum": ["asc", "desc"]}}
    changes = diff_documents(
        _spec(parameters=parameter("asc"), schemas=sort),
        _spec(parameters=parameter("desc"), schemas=sort),
    )
    assert _ids(changes) == [("request-parameter-default-value-changed", "warning")]


def _response_spec(kind: dict[str, Any]) -> dict[str, Any]:
    spec = _spec()
    schema = {"type": "object", "properties": {"kind": kind}, "required": ["kind"]}
    spec["paths"]["/things"]["post"]["responses"]["200"]["content"] = {
        "application/json": {"schema": schema}
    }
    return spec


@pytest.mark.parametrize(
    ("before", "after", "rule", "level"),
    [
        # A bound where there was none is "set", as oasdiff names it (not "increased from 0").
        ({"type": "string"}, {"type": "string", "minLength": 3}, "min-length-set", "info"),
        ({"type": "integer", "maximum": 9}, {"type": "integer"}, "max-unset", "error"),
        ({"type": "string", "minLength": 2}, {"type": "string"}, "min-length-unset", "error"),
        (
            {"type": "string", "enum": ["a"]},
            {"type": "string", "enum": ["a", "b"]},
            "enum-value-added",
            "error",
        ),
    ],
)
def test_response_constraint_levels_follow_oasdiff(
    before: dict[str, Any], after: dict[str, Any], rule: str, level: str
) -> None:
    changes = diff_documents(_response_spec(before), _response_spec(after))
    assert _ids(changes) == [(f"response-property-{rule}", level)]


def test_request_bound_where_there_was_none_is_set_and_breaking() -> None:
    def body(kind: dict[str, Any]) -> dict[str, Any]:
        return {"type": "object", "properties": {"kind": kind}}

    changes = diff_documents(
        _spec(body=body({"type": "string"})), _spec(body=body({"type": "string", "minLength": 3}))
    )
    assert _ids(changes) == [("request-property-min-length-set", "error")]


def test_semantics_openapi_turns_fastapi_semantics_off_from_the_command_line(
    tmp_path: Path,
) -> None:
    (tmp_path / "base.json").write_text(json.dumps(_users_app(UserPublicV1)))
    (tmp_path / "revision.json").write_text(json.dumps(_users_app(UserPublicV2)))
    files = [str(tmp_path / "base.json"), str(tmp_path / "revision.json")]
    assert run(["schema-diff", *files]) == 1
    assert run(["schema-diff", *files, "--semantics", "openapi"]) == 0
    assert run(["schema-diff", *files], env={"FASTAPI_CI_SCHEMA_DIFF_SEMANTICS": "openapi"}) == 0
