"""The broker's HTTP API: ``create_app(settings)`` wires settings, adapters, storage and routes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import ValidationError

from planner.adapters.base import PlatformAdapter
from planner.adapters.registry import build_adapters
from planner.api import metrics, wd
from planner.api.openapi import install_openapi
from planner.api.responses import problem
from planner.api.routes import router
from planner.auth import Authenticator, AuthRequiredError, check_exposure, read_token_file
from planner.engine.scoring import ScoringWeights
from planner.errors import PlannerError
from planner.service import BrokerService
from planner.settings import BrokerSettings
from planner.storage.database import make_engine, upgrade
from planner.storage.repository import SqlRepository
from planner.wire import codecs

logger = logging.getLogger(__name__)

#: Seconds the shutdown waits for the poller's round in progress before cancelling it.
STOP_GRACE_S = 10.0


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(PlannerError)
    async def planner_error(request: Request, exc: PlannerError) -> Response:
        response = problem(request, exc.status, exc.code, exc.title, exc.detail, **exc.extra)
        if isinstance(exc, AuthRequiredError):
            response.headers["WWW-Authenticate"] = 'Bearer realm="cirasa-broker"'
        return response

    @app.exception_handler(codecs.BodyDecodeError)
    async def decode_error(request: Request, exc: codecs.BodyDecodeError) -> Response:
        return problem(request, 400, "body-unreadable", "Unreadable body", str(exc))

    @app.exception_handler(ValidationError)
    async def validation_error(request: Request, exc: ValidationError) -> Response:
        errors = [{"loc": ".".join(str(p) for p in e["loc"]), "msg": e["msg"]} for e in exc.errors(include_url=False)]
        detail = "; ".join(f"{e['loc']}: {e['msg']}" for e in errors)
        return problem(request, 422, "request-invalid", "Invalid request", detail, errors=errors)


def build_authenticator(settings: BrokerSettings) -> Authenticator:
    tokens = {entry.token.get_secret_value(): entry.owner for entry in settings.auth_tokens}
    if settings.auth_tokens_file is not None:
        tokens |= read_token_file(settings.auth_tokens_file)
    return Authenticator(tokens, settings.read_policy)


def create_app(settings: BrokerSettings | None = None, adapters: Sequence[PlatformAdapter] | None = None) -> FastAPI:
    """The broker app.

    Raises
    ------
    InsecureExposureError
        When ``settings.host`` is not a loopback address and no bearer token is configured.
    """
    settings = (settings or BrokerSettings()).with_config_file()
    authenticator = build_authenticator(settings)
    check_exposure(settings.host, authenticator)
    chosen = list(adapters) if adapters is not None else build_adapters(settings)
    output_root = Path(os.environ.get("CIRASA_HOME", "var")).resolve() / "outputs"
    weights = ScoringWeights(preference={p.name: p.preference for p in settings.platforms if p.preference})

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = settings.resolved_database_url()
        await asyncio.to_thread(upgrade, url)
        engine = make_engine(url)
        service = BrokerService(
            chosen,
            SqlRepository(engine),
            ttl=timedelta(seconds=settings.offer_ttl_s),
            platform_timeout=timedelta(seconds=settings.platform_timeout_s),
            weights=weights,
            authenticator=authenticator,
            compat_calycopis=settings.compat_calycopis,
            output_root=output_root,
        )
        app.state.service = service
        stop = asyncio.Event()
        poller = asyncio.create_task(
            service.runner.poll_forever(timedelta(seconds=settings.poll_interval_s), service.expire, stop)
        )
        logger.info(
            "broker ready with platforms: %s; auth %s",
            ", ".join(a.name for a in chosen) or "none",
            "on" if authenticator.enabled else "OFF",
        )
        try:
            yield
        finally:
            # Let a round in progress finish (a query cut off by cancellation can leave the database driver's
            # thread answering a closed event loop), then stop; cancel only a round that hangs.
            stop.set()
            try:
                await asyncio.wait_for(asyncio.shield(poller), STOP_GRACE_S)
            except TimeoutError:
                poller.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poller
            for adapter in chosen:  # adapters that pool connections close them here
                close = getattr(adapter, "aclose", None) or getattr(getattr(adapter, "adapter", None), "aclose", None)
                if close is not None:
                    await close()
            await engine.dispose()

    app = FastAPI(
        title="cirasa-planner ExecutionBroker",
        version="0.2.0",
        description="IVOA ExecutionBroker (schema 1.0.5 and 1.0.7 paths, 2023 draft adapter); "
        "bodies in YAML (default), JSON or XML.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    metrics.install_request_counter(app)
    app.include_router(router)
    app.include_router(wd.router)
    app.include_router(metrics.router)
    install_openapi(app)
    return app
