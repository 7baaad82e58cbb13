"""The versioned API: every resource router, mounted under ``API_V1_STR``."""

from fastapi import APIRouter

from app.api.routes import items

api_router = APIRouter()
api_router.include_router(items.router)
