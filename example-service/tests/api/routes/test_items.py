"""CRUD on /api/v1/items."""

from datetime import datetime
from typing import Any

import pytest
from httpx import AsyncClient

ITEMS = "/api/v1/items"


async def create(client: AsyncClient, **fields: Any) -> dict[str, Any]:
    """Create an item (defaults filled in) and return its JSON."""
    response = await client.post(ITEMS, json={"name": "Widget", "price": "9.99", **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_create_returns_201_and_the_stored_item(client: AsyncClient) -> None:
    item = await create(client, name="Lamp", description="Bright", price="19.90")

    assert item["name"] == "Lamp"
    assert item["description"] == "Bright"
    assert item["price"] == "19.90"
    assert isinstance(item["id"], int)
    assert datetime.fromisoformat(item["created_at"]).tzinfo is not None
    assert item["updated_at"] is None


async def test_create_accepts_a_numeric_price_and_no_description(client: AsyncClient) -> None:
    item = await create(client, price=5)

    assert item["price"] == "5.00"
    assert item["description"] is None


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"price": "1"}, id="missing-name"),
        pytest.param({"name": "", "price": "1"}, id="empty-name"),
        pytest.param({"name": "x" * 101, "price": "1"}, id="name-too-long"),
        pytest.param({"name": "Widget"}, id="missing-price"),
        pytest.param({"name": "Widget", "price": "-0.01"}, id="negative-price"),
        pytest.param({"name": "Widget", "price": "1.001"}, id="price-too-precise"),
        pytest.param({"name": "Widget", "price": "cheap"}, id="price-not-a-number"),
        pytest.param({"name": "Widget", "price": "1", "description": "d" * 1001}, id="long-desc"),
    ],
)
async def test_invalid_item_is_422(client: AsyncClient, body: dict[str, Any]) -> None:
    response = await client.post(ITEMS, json=body)

    assert response.status_code == 422
    assert response.json()["detail"]


async def test_read_returns_the_item(client: AsyncClient) -> None:
    item = await create(client)

    response = await client.get(f"{ITEMS}/{item['id']}")

    assert response.status_code == 200
    assert response.json() == item


async def test_read_missing_item_is_404_with_json_detail(client: AsyncClient) -> None:
    response = await client.get(f"{ITEMS}/999999")

    assert response.status_code == 404
    assert response.json() == {"detail": "Item not found"}


async def test_read_with_non_integer_id_is_422(client: AsyncClient) -> None:
    response = await client.get(f"{ITEMS}/abc")

    assert response.status_code == 422


async def test_list_is_empty_without_items(client: AsyncClient) -> None:
    response = await client.get(ITEMS)

    assert response.status_code == 200
    assert response.json() == {"data": [], "count": 0}


async def test_list_pages_with_limit_and_offset_in_creation_order(client: AsyncClient) -> None:
    ids = [(await create(client, name=f"item {n}"))["id"] for n in range(5)]

    response = await client.get(ITEMS, params={"limit": 2, "offset": 1})

    assert response.status_code == 200
    page = response.json()
    assert page["count"] == 5
    assert [item["id"] for item in page["data"]] == ids[1:3]


async def test_list_defaults_to_twenty_items(client: AsyncClient) -> None:
    for n in range(21):
        await create(client, name=f"item {n}")

    page = (await client.get(ITEMS)).json()

    assert len(page["data"]) == 20
    assert page["count"] == 21


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 101}, {"offset": -1}, {"limit": "many"}]
)
async def test_list_rejects_bad_pagination_with_422(
    client: AsyncClient, params: dict[str, Any]
) -> None:
    response = await client.get(ITEMS, params=params)

    assert response.status_code == 422


async def test_patch_changes_only_the_given_fields(client: AsyncClient) -> None:
    item = await create(client, name="Old", description="Keep me", price="1.00")

    response = await client.patch(f"{ITEMS}/{item['id']}", json={"name": "New"})

    assert response.status_code == 200
    updated = response.json()
    assert updated["name"] == "New"
    assert updated["description"] == "Keep me"
    assert updated["price"] == "1.00"
    assert updated["created_at"] == item["created_at"]
    assert updated["updated_at"] is not None
    assert (await client.get(f"{ITEMS}/{item['id']}")).json() == updated


async def test_patch_can_clear_the_description(client: AsyncClient) -> None:
    item = await create(client, description="Remove me")

    response = await client.patch(f"{ITEMS}/{item['id']}", json={"description": None})

    assert response.status_code == 200
    assert response.json()["description"] is None


@pytest.mark.parametrize("body", [{"name": None}, {"price": None}, {"name": ""}, {"price": "-1"}])
async def test_patch_with_invalid_fields_is_422(client: AsyncClient, body: dict[str, Any]) -> None:
    item = await create(client)

    response = await client.patch(f"{ITEMS}/{item['id']}", json=body)

    assert response.status_code == 422
    assert (await client.get(f"{ITEMS}/{item['id']}")).json() == item


async def test_patch_missing_item_is_404(client: AsyncClient) -> None:
    response = await client.patch(f"{ITEMS}/999999", json={"name": "New"})

    assert response.status_code == 404
    assert response.json() == {"detail": "Item not found"}


async def test_delete_returns_204_and_the_item_is_gone(client: AsyncClient) -> None:
    item = await create(client)

    response = await client.delete(f"{ITEMS}/{item['id']}")

    assert response.status_code == 204
    assert response.content == b""
    assert (await client.get(f"{ITEMS}/{item['id']}")).status_code == 404


async def test_delete_missing_item_is_404(client: AsyncClient) -> None:
    response = await client.delete(f"{ITEMS}/999999")

    assert response.status_code == 404
    assert response.json() == {"detail": "Item not found"}
