"""CRUD on items."""

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status

from app import crud
from app.api.deps import SessionDep
from app.models import Item
from app.schemas import ErrorDetail, ItemCreate, ItemList, ItemRead, ItemUpdate

router = APIRouter(prefix="/items", tags=["items"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    status.HTTP_404_NOT_FOUND: {"model": ErrorDetail, "description": "Item not found"}
}


async def _get_or_404(session: SessionDep, item_id: int) -> Item:
    item = await crud.get_item(session, item_id)
    if item is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="Item not found")
    return item


@router.get("", summary="List items")
async def list_items(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100, description="Page size")] = 20,
    offset: Annotated[int, Query(ge=0, description="Items to skip")] = 0,
) -> ItemList:
    """Items in creation order, one page at a time, with the total count."""
    items, count = await crud.list_items(session, limit=limit, offset=offset)
    return ItemList(data=[ItemRead.model_validate(item) for item in items], count=count)


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create an item")
async def create_item(session: SessionDep, item_in: ItemCreate) -> ItemRead:
    """Create an item."""
    return ItemRead.model_validate(await crud.create_item(session, item_in))


@router.get("/{item_id}", summary="Get an item", responses=NOT_FOUND)
async def read_item(session: SessionDep, item_id: int) -> ItemRead:
    """The item with this id."""
    return ItemRead.model_validate(await _get_or_404(session, item_id))


@router.patch("/{item_id}", summary="Update an item", responses=NOT_FOUND)
async def update_item(session: SessionDep, item_id: int, item_in: ItemUpdate) -> ItemRead:
    """Change the given fields of an item."""
    item = await _get_or_404(session, item_id)
    return ItemRead.model_validate(await crud.update_item(session, item, item_in))


@router.delete(
    "/{item_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete an item",
    responses=NOT_FOUND,
)
async def delete_item(session: SessionDep, item_id: int) -> None:
    """Delete an item."""
    await crud.delete_item(session, await _get_or_404(session, item_id))
