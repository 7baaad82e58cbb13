"""Probes for orchestrators: liveness (process up) and readiness (database reachable)."""

import logging

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse

from app.api.deps import EngineDep, SettingsDep
from app.core.db import describe_db_error, ping
from app.schemas import Liveness, Readiness, Unavailable

router = APIRouter(prefix="/health", tags=["health"])
logger = logging.getLogger(__name__)


@router.get("/live", summary="Liveness probe")
async def health_live() -> Liveness:
    """Answer as long as the process serves HTTP; never touches the database."""
    return Liveness()


@router.get(
    "/ready",
    summary="Readiness probe",
    response_model=Readiness,
    responses={status.HTTP_503_SERVICE_UNAVAILABLE: {"model": Unavailable}},
)
async def health_ready(engine: EngineDep, settings: SettingsDep) -> Readiness | JSONResponse:
    """Run ``SELECT 1`` with a timeout; 503 with a reason when the database does not answer."""
    timeout = settings.READINESS_TIMEOUT_SECONDS
    try:
        await ping(engine, within=timeout)
    except TimeoutError:
        reason = f"database did not answer within {timeout:g}s"
    # A probe must answer "not ready" whatever broke, never 500.
    except Exception as exc:
        reason = f"database unreachable: {describe_db_error(exc)}"
    else:
        return Readiness()
    logger.warning("not ready: %s", reason)
    return JSONResponse(
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        content=Unavailable(reason=reason).model_dump(),
    )
