"""Each rule, on a real FastAPI app pair: tests/fixtures/schema_apps/shop_v1.py -> shop_v2.py."""

from __future__ import annotations

import pytest

from fastapi_ci.schema_guard.report import Change
from tests.unit.schema_guard.conftest import find_change

ITEM = "GET /items/{item_id}"
ITEM_JSON = "response 200 application/json"
CREATE_JSON = "request body application/json"

# (rule id, level, operation, location): one row per change shop_v2 makes on purpose.
EXPECTED = [
    # endpoints
    ("api-removed-without-deprecation", "error", "DELETE /items/{item_id}", "endpoint"),
    ("api-path-removed-without-deprecation", "error", "GET /reports", "endpoint"),
    ("api-path-removed-with-deprecation", "info", "GET /legacy", "endpoint"),
    ("endpoint-added", "info", "GET /health", "endpoint"),
    ("endpoint-deprecated", "info", "GET /export", "endpoint"),
    # security
    ("api-security-anonymous-access-removed", "error", "GET /admin/stats", "security"),
    ("api-security-added", "info", "GET /admin/stats", "security"),
    ("api-security-component-added", "info", None, "security scheme HTTPBearer"),
    # parameters
    ("new-required-request-parameter", "error", "GET /items", "query parameter region"),
    ("new-required-request-parameter", "error", "GET /items", "header parameter x-tenant"),
    ("new-optional-request-parameter", "info", "GET /items", "query parameter offset"),
    ("request-parameter-became-required", "error", "GET /items", "query parameter page"),
    ("request-parameter-max-decreased", "error", "GET /items", "query parameter limit"),
    ("request-parameter-max-length-decreased", "error", "GET /items", "query parameter q"),
    ("request-parameter-enum-value-removed", "error", "GET /items", "query parameter sort"),
    ("request-parameter-type-changed", "error", ITEM, "path parameter item_id"),
    # request bodies
    ("request-body-became-required", "error", "PUT /items/{item_id}", "request body"),
    (
        "request-body-media-type-removed",
        "error",
        "POST /items/import",
        "request body application/vnd.shop+json",
    ),
    (
        "request-body-media-type-added",
        "info",
        "POST /items/import",
        "request body application/json",
    ),
    ("new-required-request-property", "error", "POST /items", f"{CREATE_JSON}: category"),
    ("new-optional-request-property", "info", "POST /items", f"{CREATE_JSON}: gift"),
    ("request-property-became-required", "error", "POST /items", f"{CREATE_JSON}: nickname"),
    ("request-property-type-changed", "error", "POST /items", f"{CREATE_JSON}: quantity"),
    # int | str -> int | list[str]: oasdiff's list-of-types pattern, str lost.
    ("request-property-list-of-types-narrowed", "error", "POST /items", f"{CREATE_JSON}: ref_id"),
    ("request-property-enum-value-removed", "error", "POST /items", f"{CREATE_JSON}: size"),
    ("request-property-max-length-decreased", "error", "POST /items", f"{CREATE_JSON}: name"),
    ("request-property-min-length-increased", "error", "POST /items", f"{CREATE_JSON}: name"),
    ("request-property-min-increased", "error", "POST /items", f"{CREATE_JSON}: price"),
    ("request-property-max-items-decreased", "error", "POST /items", f"{CREATE_JSON}: tags"),
    ("request-property-pattern-added", "error", "POST /items", f"{CREATE_JSON}: code"),
    ("request-property-max-length-increased", "info", "POST /items", f"{CREATE_JSON}: description"),
    # responses
    ("response-success-status-removed", "error", "POST /items", "response 201"),
    ("response-success-status-added", "info", "POST /items", "response 200"),
    ("response-media-type-removed", "error", "GET /export", "response 200 text/plain"),
    ("response-media-type-added", "info", "GET /export", "response 200 application/json"),
    ("response-required-property-removed", "error", ITEM, f"{ITEM_JSON}: sku"),
    ("response-property-became-optional", "error", ITEM, f"{ITEM_JSON}: label"),
    ("response-property-became-nullable", "error", ITEM, f"{ITEM_JSON}: owner.name"),
    ("response-body-became-nullable", "error", "GET /items/{item_id}/seller", ITEM_JSON),
    ("response-property-type-changed", "error", ITEM, f"{ITEM_JSON}: price"),
    ("response-property-type-changed", "error", ITEM, f"{ITEM_JSON}: tags[]"),
    ("response-property-type-changed", "error", ITEM, f"{ITEM_JSON}: stock{{}}"),
    ("response-property-max-increased", "error", ITEM, f"{ITEM_JSON}: score"),
    ("response-property-enum-value-added", "error", ITEM, f"{ITEM_JSON}: color"),
    ("response-required-property-added", "info", ITEM, f"{ITEM_JSON}: created_at"),
    ("response-optional-property-added", "info", "GET /tree", f"{ITEM_JSON}: weight"),
]


@pytest.mark.parametrize(
    ("rule", "level", "operation", "location"),
    EXPECTED,
    ids=[f"{rule}@{location}" for rule, _, _, location in EXPECTED],
)
def test_each_change_of_the_shop_app_is_classified_by_its_rule(
    shop_changes: list[Change], rule: str, level: str, operation: str, location: str
) -> None:
    assert find_change(shop_changes, rule, operation, location).level == level


def test_the_shop_app_pair_has_no_change_beyond_the_intended_ones(
    shop_changes: list[Change],
) -> None:
    expected = {(rule, operation, location) for rule, _, operation, location in EXPECTED}
    # Side effects of the intended changes, each correct in its own right.
    expected |= {
        # `page: int | None = None` -> `page: int`: required AND no longer nullable.
        ("request-parameter-became-not-nullable", "GET /items", "query parameter page"),
        # `item: ItemUpdate | None = None` -> `item: ItemUpdate`.
        ("request-body-became-not-nullable", "PUT /items/{item_id}", CREATE_JSON),
    }
    found = {(c.id, c.operation, c.location) for c in shop_changes}
    assert found == expected


def test_removed_response_field_is_breaking(shop_changes: list[Change]) -> None:
    change = find_change(
        shop_changes, "response-required-property-removed", ITEM, f"{ITEM_JSON}: sku"
    )
    assert change.level == "error"
    assert "'sku' was removed" in change.message


def test_change_to_a_shared_model_is_reported_once_naming_the_other_operations(
    shop_changes: list[Change],
) -> None:
    nullable = [c for c in shop_changes if c.id == "response-property-became-nullable"]
    assert len(nullable) == 1
    # Reported at the shortest location; `GET /items` reaches it as `[].owner.name`.
    assert nullable[0].location == f"{ITEM_JSON}: owner.name"
    assert "(also in GET /items, PUT /items/{item_id})" in nullable[0].message


def test_loosened_request_constraint_is_not_breaking(shop_changes: list[Change]) -> None:
    change = find_change(
        shop_changes,
        "request-property-max-length-increased",
        "POST /items",
        f"{CREATE_JSON}: description",
    )
    assert change.level == "info"
    assert "maxLength increased from 100 to 200" in change.message
