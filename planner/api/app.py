"""The broker's HTTP API: ``create_app(settings)`` wires settings, adapters, storage and routes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import ValidationError

from planner.adapters.base import PlatformAdapter
from planner.adapters.registry import build_adapters
from planner.api.responses import problem
from planner.api.routes import router
from planner.engine.scoring import ScoringWeights
from planner.errors import PlannerError
from planner.service import BrokerService
from planner.settings import BrokerSettings
from planner.storage.database import make_engine, upgrade
from planner.storage.repository import SqlRepository
from planner.wire import codecs

logger = logging.getLogger(__name__)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(PlannerError)
    async def planner_error(request: Request, exc: PlannerError) -> Response:
        return problem(request, exc.status, exc.code, exc.title, exc.detail, **exc.extra)

    @app.exception_handler(codecs.BodyDecodeError)
    async def decode_error(request: Request, exc: codecs.BodyDecodeError) -> Response:
        return problem(request, 400, "body-unreadable", "Unreadable body", str(exc))

    @app.exception_handler(ValidationError)
    async def validation_error(request: Request, exc: ValidationError) -> Response:
        errors = [{"loc": ".".join(str(p) for p in e["loc"]), "msg": e["msg"]} for e in exc.errors(include_url=False)]
        detail = "; ".join(f"{e['loc']}: {e['msg']}" for e in errors)
        return problem(request, 422, "request-invalid", "Invalid request", detail, errors=errors)


def create_app(settings: BrokerSettings | None = None, adapters: Sequence[PlatformAdapter] | None = None) -> FastAPI:
    settings = (settings or BrokerSettings()).with_config_file()
    chosen = list(adapters) if adapters is not None else build_adapters(settings)
    weights = ScoringWeights(preference={p.name: p.preference for p in settings.platforms if p.preference})

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = settings.resolved_database_url()
        await asyncio.to_thread(upgrade, url)
        engine = make_engine(url)
        app.state.service = BrokerService(
            chosen,
            SqlRepository(engine),
            ttl=timedelta(seconds=settings.offer_ttl_s),
            platform_timeout=timedelta(seconds=settings.platform_timeout_s),
            weights=weights,
        )
        logger.info("broker ready with platforms: %s", ", ".join(a.name for a in chosen) or "none")
        try:
            yield
        finally:
            await engine.dispose()

    app = FastAPI(title="cirasa-planner ExecutionBroker", version="0.1.0", lifespan=lifespan)
    install_error_handlers(app)
    app.include_router(router)
    return app
