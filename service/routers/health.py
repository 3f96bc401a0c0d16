"""Operational endpoints; all cheap and async, so they answer while computations run."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from ..deps import NablaDep, SettingsDep
from ..docs import problems
from ..problems import DESCRIPTIONS, STATUSES, TITLES, ProblemException
from ..schemas import CacheInfo, Health, LimitsInfo

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health, summary="Liveness: the event loop answers")
async def healthz(nabla: NablaDep) -> dict[str, Any]:
    return {"status": "ok", "version": nabla.version}


@router.get("/v1/limits", response_model=LimitsInfo, summary="Configured limits (SPEC §4)",
            responses=problems(401, 429))
async def limits(settings: SettingsDep) -> LimitsInfo:
    return LimitsInfo.model_validate(settings.model_dump(include=set(LimitsInfo.model_fields)))


@router.get("/v1/cache", response_model=CacheInfo, summary="Kernel cache size and hit rate",
            responses=problems(401, 429))
async def cache(nabla: NablaDep) -> dict[str, Any]:
    return nabla.cache_stats()


@router.get("/metrics", response_class=PlainTextResponse,
            summary="Prometheus text: requests, latency, cache, compile time",
            responses=problems(401, 429))
async def metrics(nabla: NablaDep) -> PlainTextResponse:
    return PlainTextResponse(nabla.metrics_text(),
                             media_type="text/plain; version=0.0.4; charset=utf-8")


@router.get("/problems/{kind}", summary="What a problem `type` means (the URIs resolve here)",
            responses=problems(404))
async def problem_type(kind: str) -> dict[str, Any]:
    if kind not in DESCRIPTIONS:
        raise ProblemException(404, "not-found", f"no problem type '{kind[:80]}'")
    return {"type": f"/problems/{kind}", "kind": kind, "title": TITLES[kind],
            "status": STATUSES[kind], "description": DESCRIPTIONS[kind]}
