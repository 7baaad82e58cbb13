"""Smoke tests generated from an OpenAPI document, run against real FastAPI apps in process."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import FastAPI, Path, Query
from fastapi.testclient import TestClient
from pydantic import BaseModel

from fastapi_ci.verify.smoke import plan, run_smoke
from tests.support.components import EXAMPLE_SERVICE


class Pet(BaseModel):
    id: int
    name: str


class PetPage(BaseModel):
    data: list[Pet]
    count: int


def pets_app(*, broken_list: bool = False, without_search: bool = False) -> FastAPI:
    app = FastAPI()
    pets = [{"id": 1, "name": "rex"}]

    # The broken version serves a body its document forbids: it validates nothing itself.
    @app.get("/pets", response_model=None if broken_list else PetPage)
    def list_pets(limit: int = 10) -> Any:
        if broken_list:  # what a changed response model does: the body no longer fits
            return {"data": [{"id": "one"}], "count": 1}
        return PetPage(data=[Pet(**p) for p in pets], count=1)

    @app.get("/pets/{pet_id}", responses={404: {"description": "missing"}})
    def read_pet(pet_id: Annotated[int, Path(examples=[1])]) -> Pet:
        return Pet(**pets[0])

    @app.get("/owners/{owner_id}")
    def read_owner(owner_id: int) -> dict[str, int]:
        return {"id": owner_id}

    if not without_search:

        @app.get("/search")
        def search(q: Annotated[str, Query(examples=["rex"])]) -> list[Pet]:
            return [Pet(**p) for p in pets if q in p["name"]]

    @app.post("/pets", openapi_extra={"x-fastapi-ci-smoke": True})
    def create_pet(pet: Pet) -> Pet:
        return pet

    @app.delete("/pets/{pet_id}")
    def delete_pet(pet_id: int) -> None:
        raise AssertionError("a smoke test must never call an unmarked write")

    @app.get("/admin/reindex", openapi_extra={"x-fastapi-ci-smoke": False})
    def reindex() -> None:
        raise AssertionError("marked false: never called")

    return app


def test_only_safe_operations_callable_from_the_document_are_planned() -> None:
    smoke_plan = plan(pets_app().openapi(), writes=False)

    assert [(op.key, op.path, op.query) for op in smoke_plan.operations] == [
        ("GET /pets", "/pets", ()),
        ("GET /pets/{pet_id}", "/pets/1", ()),
        ("GET /search", "/search", (("q", "rex"),)),
    ]
    reasons = {skip.key: skip.reason for skip in smoke_plan.skipped}
    assert "no example" in reasons["GET /owners/{owner_id}"]
    assert "write" in reasons["DELETE /pets/{pet_id}"]
    assert "smoke-writes is false" in reasons["POST /pets"]
    assert reasons["GET /admin/reindex"] == "x-fastapi-ci-smoke: false"


def test_a_marked_write_is_called_only_when_writes_are_allowed_and_it_has_an_example() -> None:
    document = pets_app().openapi()
    document["paths"]["/pets"]["post"]["requestBody"]["content"]["application/json"]["example"] = {
        "id": 2,
        "name": "tom",
    }

    keys = [op.key for op in plan(document, writes=True).operations]

    assert "POST /pets" in keys
    assert "DELETE /pets/{pet_id}" not in keys


def test_the_same_version_passes_its_smoke_tests() -> None:
    app = pets_app()
    document = app.openapi()

    report = run_smoke(TestClient(app), document, plan(document, writes=False), timeout=5)

    assert report.failures == []
    assert len(report.results) == 3


def test_a_body_that_breaks_its_response_schema_fails() -> None:
    document = pets_app().openapi()
    changed = pets_app(broken_list=True)

    report = run_smoke(TestClient(changed), document, plan(document, writes=False), timeout=5)

    assert [r.key for r in report.failures] == ["GET /pets"]
    assert "data/0/id" in report.failures[0].detail


def test_a_removed_endpoint_fails_its_smoke_test() -> None:
    document = pets_app().openapi()
    changed = pets_app(without_search=True)

    report = run_smoke(TestClient(changed), document, plan(document, writes=False), timeout=5)

    assert [(r.key, r.status) for r in report.failures] == [("GET /search", 404)]
    assert "does not list" in report.failures[0].detail


def test_a_server_error_fails_even_when_documented() -> None:
    app = FastAPI()

    @app.get("/boom", responses={500: {"description": "it happens"}})
    def boom() -> None:
        raise RuntimeError("boom")

    document = app.openapi()
    client = TestClient(app, raise_server_exceptions=False)
    report = run_smoke(client, document, plan(document, writes=False), timeout=5)

    assert [(r.key, r.status) for r in report.failures] == [("GET /boom", 500)]


def test_the_example_services_golden_document_plans_its_list_and_probes() -> None:
    document = json.loads((EXAMPLE_SERVICE / "openapi.json").read_text())

    smoke_plan = plan(document, writes=False)

    assert [op.key for op in smoke_plan.operations] == [
        "GET /api/v1/items",
        "GET /health/live",
        "GET /health/ready",
    ]
