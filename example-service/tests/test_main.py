"""The application factory: lifespan, routes and the OpenAPI document."""

from httpx import ASGITransport, AsyncClient

from app.core.config import Settings
from app.main import app, create_app


def test_module_level_app_is_built_from_the_environment() -> None:
    assert app.title == "Example Service"
    assert app.version == "1.0.0"


async def test_shutdown_closes_the_database_connections(database_url: str) -> None:
    application = create_app(Settings(DATABASE_URL=database_url))
    transport = ASGITransport(app=application)

    async with application.router.lifespan_context(application):
        async with AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.get("/health/ready")).json() == {"status": "ready"}
        assert application.state.engine.pool.checkedin() == 1

    assert application.state.engine.pool.checkedin() == 0


def test_operations_are_named_after_their_handlers() -> None:
    schema = create_app(Settings()).openapi()

    operation_ids = {
        operation["operationId"] for path in schema["paths"].values() for operation in path.values()
    }
    assert operation_ids == {
        "list_items",
        "create_item",
        "read_item",
        "update_item",
        "delete_item",
        "health_live",
        "health_ready",
    }


def test_not_found_and_unavailable_responses_are_documented() -> None:
    paths = create_app(Settings()).openapi()["paths"]

    not_found = paths["/api/v1/items/{item_id}"]["get"]["responses"]["404"]
    assert not_found["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorDetail"
    }
    unavailable = paths["/health/ready"]["get"]["responses"]["503"]
    assert unavailable["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Unavailable"
    }
