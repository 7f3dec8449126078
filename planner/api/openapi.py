"""OpenAPI description of the raw-body routes: request bodies in JSON, YAML and XML, typed responses.

The routes read their bodies themselves (three media types), so FastAPI cannot infer the request
schemas; :func:`body_of` declares them and :func:`install_openapi` adds the models they name.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from planner.wire.models import EnumValueUpdate, ExecutionRequest

MEDIA_TYPES = ("application/json", "application/yaml", "application/xml")
REQUEST_MODELS: tuple[type[BaseModel], ...] = (ExecutionRequest, EnumValueUpdate)


def body_of(schema: str) -> dict[str, Any]:
    """``openapi_extra`` declaring a request body of component ``schema`` in every media type."""
    ref = {"$ref": f"#/components/schemas/{schema}"}
    return {"requestBody": {"required": False, "content": {m: {"schema": ref} for m in MEDIA_TYPES}}}


def returns(status: int, model: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    """A ``responses`` entry of ``model`` in every media type."""
    return {status: {"model": model, "content": {m: {} for m in MEDIA_TYPES[1:]}}}


def install_openapi(app: FastAPI) -> None:
    """Serve an OpenAPI document that also holds the request-body models."""

    def build() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        _, extra = models_json_schema(
            [(m, "validation") for m in REQUEST_MODELS], ref_template="#/components/schemas/{model}"
        )
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        for name, schema in extra.get("$defs", {}).items():
            schemas.setdefault(name, schema)
        app.openapi_schema = document
        return document

    app.openapi = build  # type: ignore[method-assign]
