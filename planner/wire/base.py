"""Building blocks shared by every wire model: metadata, message items, options, costs and metrics.

Names follow the schema titles. Unknown fields are kept (tolerant reader); ``kind`` values of
either schema generation are normalised to the current spelling on input.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from planner.wire import kinds


def _normalise(value: Any) -> Any:
    return kinds.normalise_kind(value) if isinstance(value, str) else value


Kind = Annotated[str, BeforeValidator(_normalise)]
Level = Literal["DEBUG", "WARN", "ERROR", "INFO", "OTHER"]


class WireModel(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class MessageItem(WireModel):
    kind: str
    time: datetime | None = None
    level: Level = "INFO"
    template: str = ""
    values: dict[str, str] = Field(default_factory=dict)
    message: str = ""


class AbstractOption(WireModel):
    kind: str
    path: str


class EnumValueOption(AbstractOption):
    kind: str = "uri:enum-value-option"
    values: list[str] = Field(default_factory=list)


class ComponentMetadata(WireModel):
    uuid: str | None = None
    name: str | None = None
    url: str | None = None
    description: str | None = None
    created: datetime | None = None
    modified: datetime | None = None
    messages: list[MessageItem] = Field(default_factory=list)
    options: list[EnumValueOption] = Field(default_factory=list)


class SimpleMinMaxFloatCost(WireModel):
    """A cost (``type`` e.g. ``urn:ivoa:calycopis:cost:energy``) as a min/max range."""

    kind: Kind = kinds.SIMPLE_COST
    type: str | None = None
    description: str | None = None
    min: float | None = None
    max: float | None = None


class SimpleMinMaxFloatMetric(WireModel):
    """A metric (``type`` e.g. ``urn:ivoa:calycopis:metric:compute-performance``) as a min/max range."""

    kind: Kind = kinds.SIMPLE_METRIC
    type: str | None = None
    description: str | None = None
    min: float | None = None
    max: float | None = None


class AbstractComponent(WireModel):
    kind: Kind
    meta: ComponentMetadata | None = None


class MinMaxInteger(WireModel):
    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)


class SimpleVolumeMount(AbstractComponent):
    kind: Kind = kinds.SIMPLE_VOLUME
    path: str | None = None
    mode: Literal["READONLY", "READWRITE"] | None = None
    resource: str | None = None


class SimpleComputeResource(AbstractComponent):
    kind: Kind = kinds.SIMPLE_COMPUTE
    cores: MinMaxInteger | None = None
    memory: MinMaxInteger | None = Field(default=None, description="GiB")
    volumes: list[SimpleVolumeMount] = Field(default_factory=list)
    costs: list[SimpleMinMaxFloatCost] = Field(default_factory=list)
    metrics: list[SimpleMinMaxFloatMetric] = Field(default_factory=list)


class DataResource(AbstractComponent):
    """Any data resource (simple, S3, Rucio, IVOA, SKAO); ``storage`` names the storage it lives on."""

    kind: Kind = kinds.SIMPLE_DATA
    location: str | None = None
    storage: str | None = None


class StorageResource(AbstractComponent):
    """A storage resource; ``size`` in GiB."""

    kind: Kind = kinds.SIMPLE_STORAGE
    size: MinMaxInteger | None = None
    data: list[str] = Field(default_factory=list)
