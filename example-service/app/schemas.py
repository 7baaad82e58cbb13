"""Request and response bodies of the public API."""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Name = Annotated[str, Field(min_length=1, max_length=100, examples=["Widget"])]
Description = Annotated[str | None, Field(max_length=1000, examples=["A very useful widget"])]
Price = Annotated[Decimal, Field(ge=0, max_digits=10, decimal_places=2, examples=["9.99"])]


class ItemCreate(BaseModel):
    """Fields of a new item."""

    name: Name
    description: Description = None
    price: Price


class ItemUpdate(BaseModel):
    """Fields to change on an item; omitted fields keep their value."""

    name: Name | None = None
    description: Description = None
    price: Price | None = None

    @field_validator("name", "price")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Omitting a field keeps it; an explicit null would violate a NOT NULL column.
        if value is None:
            raise ValueError("may be omitted but not null")
        return value


class ItemRead(BaseModel):
    """An item as stored."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: Name
    description: Description
    price: Price
    created_at: datetime
    updated_at: datetime | None

    @field_validator("created_at", "updated_at")
    @classmethod
    def _assume_utc(cls, value: datetime | None) -> datetime | None:
        # SQLite returns naive UTC timestamps; PostgreSQL returns aware ones. Answer alike.
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class ItemList(BaseModel):
    """One page of items and the total number of items."""

    data: list[ItemRead]
    count: int


class ErrorDetail(BaseModel):
    """Body of an error response."""

    detail: str


class Liveness(BaseModel):
    """The process is up."""

    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    """The service can reach its database."""

    status: Literal["ready"] = "ready"


class Unavailable(BaseModel):
    """The service cannot serve requests right now, and why."""

    status: Literal["unavailable"] = "unavailable"
    reason: str
