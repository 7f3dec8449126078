"""Wire models of the ExecutionBroker protocol (schema v1.0.7), in pydantic v2.

Names follow the schema titles. Unknown fields are kept (tolerant reader); ``kind`` values of
either schema generation are normalised to the current spelling on input. The building blocks live
in :mod:`planner.wire.base` and :mod:`planner.wire.executables` and are re-exported here.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field

from planner.wire import kinds
from planner.wire.base import (
    AbstractComponent,
    AbstractOption,
    ComponentMetadata,
    DataResource,
    EnumValueOption,
    Kind,
    Level,
    MessageItem,
    MinMaxInteger,
    SimpleComputeResource,
    SimpleMinMaxFloatCost,
    SimpleMinMaxFloatMetric,
    SimpleVolumeMount,
    StorageResource,
    WireModel,
)
from planner.wire.executables import (
    AbstractExecutable,
    CaesarJobExecutable,
    DockerContainer,
    DockerImageSpec,
    DockerNetworkPort,
    DockerNetworkSpec,
    Executable,
    JupyterNotebook,
    SingularityContainer,
)

__all__ = [
    "AbstractComponent",
    "AbstractExecutable",
    "AbstractOption",
    "AbstractUpdate",
    "CaesarJobExecutable",
    "ComponentMetadata",
    "DataResource",
    "DockerContainer",
    "DockerImageSpec",
    "DockerNetworkPort",
    "DockerNetworkSpec",
    "EnumValueOption",
    "EnumValueUpdate",
    "Executable",
    "ExecutionRequest",
    "JupyterNotebook",
    "Kind",
    "Level",
    "MessageItem",
    "MinMaxInteger",
    "OfferSetResponse",
    "PlatformPlacement",
    "RequestedScheduleBlock",
    "RequestedScheduleItem",
    "ScheduleInstant",
    "ScheduledExecutionSchedule",
    "ScheduledExecutionSession",
    "SimpleComputeResource",
    "SimpleExecutionSessionPhase",
    "SimpleMinMaxFloatCost",
    "SimpleMinMaxFloatMetric",
    "SimpleVolumeMount",
    "SingularityContainer",
    "StorageResource",
    "WireModel",
]


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


class RequestedScheduleItem(WireModel):
    start: str | None = Field(default=None, description="ISO 8601 interval, e.g. 2026-10-05T08:00:00Z/PT4H")
    duration: str | None = Field(default=None, description="ISO 8601 duration, e.g. PT90M")


class RequestedScheduleBlock(WireModel):
    requested: RequestedScheduleItem | None = None


class ExecutionRequest(WireModel):
    executable: Executable | None = None
    compute: SimpleComputeResource | None = None
    storage: list[StorageResource] = Field(default_factory=list)
    data: list[DataResource] = Field(default_factory=list)
    schedule: RequestedScheduleBlock | None = None
    costs: list[SimpleMinMaxFloatCost] = Field(default_factory=list)
    metrics: list[SimpleMinMaxFloatMetric] = Field(default_factory=list)


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
    storage: list[StorageResource] = Field(default_factory=list)
    data: list[DataResource] = Field(default_factory=list)
    schedule: ScheduledExecutionSchedule | None = None
    connectors: list[dict[str, Any]] = Field(default_factory=list)
    costs: list[SimpleMinMaxFloatCost] = Field(default_factory=list)
    metrics: list[SimpleMinMaxFloatMetric] = Field(default_factory=list)
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
