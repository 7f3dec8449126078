"""Plain data the offer engine works on: what is asked, what a platform can give, what is offered.

Everything here is immutable and free of I/O. Adapters build :class:`PlatformSnapshot` values from the
real systems; the engine turns a :class:`ResourceRequest` and snapshots into verdicts and offers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum


class PlatformKind(StrEnum):
    """The kinds of platform an adapter can front."""

    PREFECT_POOL = "prefect-pool"
    SLURM = "slurm"
    KUBERNETES = "kubernetes"
    BROKER = "broker"


@dataclass(frozen=True)
class ResourceRequest:
    """What a job needs (``*_min``) and can use (``*_max``), and when it may start.

    Memory is in GiB as in the ExecutionBroker schema; times are UTC-aware. ``inputs`` are the input
    data (paths or URLs) for locality; ``cost_max`` is the budget (monetary, same unit as the
    platforms' ``cost_per_core_hour``), ``None`` when the request sets none.
    """

    cores_min: int = 1
    cores_max: int = 1
    memory_gib_min: int = 1
    memory_gib_max: int = 1
    duration: timedelta = timedelta(minutes=10)
    start_after: datetime | None = None
    start_before: datetime | None = None
    flow: str = "extract-image"
    inputs: tuple[str, ...] = ()
    cost_max: float | None = None

    def __post_init__(self) -> None:
        if self.cores_min < 1:
            raise ValueError(f"cores_min must be >= 1, got {self.cores_min}")
        if self.cores_max < self.cores_min:
            raise ValueError(f"cores_max ({self.cores_max}) is below cores_min ({self.cores_min})")
        if self.memory_gib_min < 0:
            raise ValueError(f"memory_gib_min must be >= 0, got {self.memory_gib_min}")
        if self.memory_gib_max < self.memory_gib_min:
            raise ValueError(f"memory_gib_max ({self.memory_gib_max}) is below memory_gib_min ({self.memory_gib_min})")
        if self.duration <= timedelta(0):
            raise ValueError(f"duration must be positive, got {self.duration}")
        if self.cost_max is not None and self.cost_max < 0:
            raise ValueError(f"cost_max must be >= 0, got {self.cost_max}")


@dataclass(frozen=True)
class StartBand:
    """When a job would start: a band ``[earliest, latest]`` and where the estimate came from."""

    earliest: datetime
    latest: datetime
    source: str

    def __post_init__(self) -> None:
        if self.latest < self.earliest:
            raise ValueError(f"start band ends ({self.latest}) before it begins ({self.earliest})")


@dataclass(frozen=True)
class PlatformSnapshot:
    """What one platform can give right now, as read by its adapter.

    ``available`` is False when the platform cannot take work at all (no worker online, daemon down);
    ``unavailable_reasons`` then says why, in words a user can act on. Limits of ``None`` mean
    "no limit known". ``work_pool`` is the Prefect work pool whose deployment runs work here.
    ``cost_per_core_hour`` (``None``: not priced) and ``data_roots`` (path or URL prefixes of data
    stored close to it) come from the operator's configuration.
    """

    name: str
    kind: PlatformKind
    work_pool: str
    available: bool
    total_cores: int
    free_cores: int
    total_memory_gib: float
    free_memory_gib: float
    start: StartBand | None = None
    max_cores_per_job: int | None = None
    max_memory_gib_per_job: float | None = None
    max_walltime: timedelta | None = None
    unavailable_reasons: tuple[str, ...] = ()
    facts: dict[str, str | int | float | bool | None] = field(default_factory=dict)
    cost_per_core_hour: float | None = None
    data_roots: tuple[str, ...] = ()


@dataclass(frozen=True)
class Reason:
    """One message item: a machine-readable kind, a template with values, and the rendered text."""

    kind: str
    template: str
    values: dict[str, str] = field(default_factory=dict)
    level: str = "ERROR"

    @property
    def message(self) -> str:
        text = self.template
        for key, value in self.values.items():
            text = text.replace("${" + key + "}", value)
        return text


@dataclass(frozen=True)
class Verdict:
    """Whether one platform can run the request, with the reasons when it cannot."""

    platform: str
    eligible: bool
    reasons: tuple[Reason, ...] = ()


@dataclass(frozen=True)
class Offer:
    """A concrete proposal: resources within the request's min/max, one start band, a score."""

    platform: str
    kind: PlatformKind
    work_pool: str
    cores: int
    memory_gib: int
    start: StartBand
    duration: timedelta
    expires: datetime
    score: float
    score_terms: dict[str, float] = field(default_factory=dict)
    notes: tuple[Reason, ...] = ()
    cost: float | None = None
