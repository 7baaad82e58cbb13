"""The FastAPI application (``app.main:app``)."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.routing import APIRoute

from app.api.main import api_router
from app.api.routes import health
from app.core.config import Settings, get_settings
from app.core.db import create_engine, create_sessionmaker
from app.core.logging import RequestContextMiddleware, configure_logging
from app.core.metrics import install_metrics


def operation_id(route: APIRoute) -> str:
    """Name operations after their handler, e.g. ``list_items``, for readable client code."""
    return route.name


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application for ``settings`` (default: from the environment)."""
    settings = settings or get_settings()
    configure_logging(settings.LOG_LEVEL)
    engine = create_engine(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await engine.dispose()

    app = FastAPI(
        title=settings.PROJECT_NAME,
        version="1.0.0",
        description="A small items service, the reference app of fastapi-ci.",
        generate_unique_id_function=operation_id,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = create_sessionmaker(engine)
    app.add_middleware(RequestContextMiddleware)
    # Added last, so it is outermost: it times the whole request, logging included.
    app.state.metrics = install_metrics(app)
    app.include_router(health.router)
    app.include_router(api_router, prefix=settings.API_V1_STR)
    return app


app = create_app()
