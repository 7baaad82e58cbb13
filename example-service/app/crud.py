"""Database operations on items."""

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Item
from app.schemas import ItemCreate, ItemUpdate


async def list_items(
    session: AsyncSession, *, limit: int, offset: int
) -> tuple[Sequence[Item], int]:
    """One page of items in creation order, and the total count."""
    count = await session.scalar(select(func.count()).select_from(Item))
    items = await session.scalars(select(Item).order_by(Item.id).limit(limit).offset(offset))
    return items.all(), count or 0


async def get_item(session: AsyncSession, item_id: int) -> Item | None:
    """The item with ``item_id``, or None."""
    return await session.get(Item, item_id)


async def create_item(session: AsyncSession, data: ItemCreate) -> Item:
    """Insert an item and return it with its generated fields."""
    item = Item(**data.model_dump())
    session.add(item)
    await session.commit()
    # Load server-generated columns (created_at) now: async sessions cannot lazy-load later.
    await session.refresh(item)
    return item


async def update_item(session: AsyncSession, item: Item, data: ItemUpdate) -> Item:
    """Apply the fields present in ``data`` to ``item``."""
    for field, value in data.model_dump(exclude_unset=True).items():
        setattr(item, field, value)
    await session.commit()
    await session.refresh(item)
    return item


async def delete_item(session: AsyncSession, item: Item) -> None:
    """Delete ``item``."""
    await session.delete(item)
    await session.commit()
