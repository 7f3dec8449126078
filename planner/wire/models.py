"""Wire models of the ExecutionBroker protocol (schema v1.0.7), in pydantic v2.

Names follow the schema titles. Unknown fields are kept (tolerant reader); ``kind`` values of
either schema generation are normalised to the current spelling on input.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag

from planner.wire import kinds


def _normalise(value: Any) -> Any:
    return kinds.normalise_kind(value) if isinstance(value, str) else value


Kind = Annotated[str, BeforeValidator(_normalise)]


class WireModel(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class SimpleExecutionSessionPhase(StrEnum):
    INITIAL = "INITIAL"
    OFFERED = "OFFERED"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    WAITING = "WAITING"
    PREPARING = "PREPARING"
    AVAILABLE = "AVAILABLE"
    RUNNING = "RUNNING"
    RELEASING = "RELEASING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class MessageItem(WireModel):
    kind: str
    time: datetime | None = None
    level: Literal["DEBUG", "WARN", "ERROR", "INFO", "OTHER"] = "INFO"
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


class AbstractComponent(WireModel):
    kind: Kind
    meta: ComponentMetadata | None = None


class MinMaxInteger(WireModel):
    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)


class SimpleComputeResource(AbstractComponent):
    kind: Kind = kinds.SIMPLE_COMPUTE
    cores: MinMaxInteger | None = None
    memory: MinMaxInteger | None = Field(default=None, description="GiB")
    volumes: list[dict[str, Any]] = Field(default_factory=list)


class AbstractExecutable(AbstractComponent):
    """Any executable; the concrete fields depend on ``kind`` (kept as extra fields)."""


class CaesarJobExecutable(AbstractExecutable):
    """A caesar-rest style job: an app (``caesar``) with its options and input images.

    ``flow`` names the Prefect flow that runs it; the chosen work pool completes the deployment
    name ``<flow>/<pool>``.
    """

    kind: Kind = kinds.CAESAR_JOB
    app: str = "caesar"
    flow: str = "extract-image"
    options: dict[str, Any] = Field(default_factory=dict)
    inputs: list[str] = Field(default_factory=list)


def _executable_tag(value: Any) -> str:
    kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
    return "caesar" if isinstance(kind, str) and kinds.normalise_kind(kind) == kinds.CAESAR_JOB else "other"


Executable = Annotated[
    Annotated[CaesarJobExecutable, Tag("caesar")] | Annotated[AbstractExecutable, Tag("other")],
    Discriminator(_executable_tag),
]


class RequestedScheduleItem(WireModel):
    start: str | None = Field(default=None, description="ISO 8601 interval, e.g. 2026-10-05T08:00:00Z/PT4H")
    duration: str | None = Field(default=None, description="ISO 8601 duration, e.g. PT90M")


class RequestedScheduleBlock(WireModel):
    requested: RequestedScheduleItem | None = None


class ExecutionRequest(WireModel):
    executable: Executable | None = None
    compute: SimpleComputeResource | None = None
    storage: list[AbstractComponent] = Field(default_factory=list)
    data: list[AbstractComponent] = Field(default_factory=list)
    schedule: RequestedScheduleBlock | None = None
    costs: list[dict[str, Any]] = Field(default_factory=list)
    metrics: list[dict[str, Any]] = Field(default_factory=list)


class ScheduleInstant(WireModel):
    start: str | None = None
    duration: str | None = None


class ScheduledExecutionSchedule(WireModel):
    preparing: ScheduleInstant | None = None
    available: ScheduleInstant | None = None
    releasing: ScheduleInstant | None = None


class PlatformPlacement(WireModel):
    """Our extension on each offer: where it would run and why it scored as it did."""

    platform: str
    platform_kind: str
    work_pool: str
    score: float
    score_terms: dict[str, float] = Field(default_factory=dict)
    start_earliest: datetime
    start_latest: datetime
    start_source: str


class ScheduledExecutionSession(AbstractComponent):
    kind: Kind = kinds.SCHEDULED_SESSION
    phase: SimpleExecutionSessionPhase = SimpleExecutionSessionPhase.INITIAL
    expires: datetime | None = None
    executable: Executable | None = None
    compute: SimpleComputeResource | None = None
    storage: list[AbstractComponent] = Field(default_factory=list)
    data: list[AbstractComponent] = Field(default_factory=list)
    schedule: ScheduledExecutionSchedule | None = None
    connectors: list[dict[str, Any]] = Field(default_factory=list)
    placement: PlatformPlacement | None = Field(default=None, alias="x-cirasa-placement")


class OfferSetResponse(AbstractComponent):
    kind: Kind = kinds.OFFER_SET
    result: Literal["YES", "NO"] = "NO"
    description: str | None = None
    offers: list[ScheduledExecutionSession] = Field(default_factory=list)


class AbstractUpdate(WireModel):
    kind: str
    path: str


class EnumValueUpdate(AbstractUpdate):
    kind: str = "uri:enum-value-update"
    path: str = "phase"
    value: str
