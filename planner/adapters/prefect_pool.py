"""A Prefect work pool as a platform, read through the Prefect REST API (read-only calls only).

Never calls the workers' polling endpoints (``get_scheduled_flow_runs``) or posts heartbeats: those
change the pool's health. Heartbeats carry no capacity, so cores and memory behind a pool come from
configuration (default: this machine).
"""

from __future__ import annotations

import asyncio
import math
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from planner.adapters.base import PlatformAdapter
from planner.engine.lifecycle import LaunchSpec, RunStatus, phase_from_prefect
from planner.engine.model import PlatformKind, PlatformSnapshot, ResourceRequest, StartBand
from planner.engine.sizing import dask_cluster_parameters
from planner.errors import NotFoundError, PlatformRejectedError, PlatformUnavailableError
from planner.wire import kinds
from planner.wire.caesar import extraction_params, map_options, unapplied_options

ACTIVE_STATES = ["PENDING", "RUNNING", "CANCELLING"]
DEFAULT_RUN_DURATION = timedelta(seconds=30)
# A process worker polls every PREFECT_WORKER_QUERY_SECONDS and needs ~3 s to start a flow process.
PICKUP = (timedelta(seconds=1), timedelta(seconds=15))


def machine_memory_gib() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


@dataclass(frozen=True)
class PoolState:
    """What the Prefect API says about one pool, before any judgement."""

    exists: bool
    status: str
    paused: bool
    concurrency_limit: int | None
    workers_online: int
    workers_stale: int
    active_runs: int
    due_runs: int
    mean_run_duration: timedelta | None


def workers_online(workers: list[dict[str, Any]], now: datetime) -> tuple[int, int]:
    """Count workers with a fresh heartbeat; an ONLINE worker silent for 3 intervals counts as stale."""
    online = stale = 0
    for worker in workers:
        beat = worker.get("last_heartbeat_time")
        interval = float(worker.get("heartbeat_interval_seconds") or 30)
        fresh = beat is not None and now - datetime.fromisoformat(beat) <= timedelta(seconds=3 * interval)
        if worker.get("status") == "ONLINE" and fresh:
            online += 1
        elif worker.get("status") == "ONLINE":
            stale += 1
    return online, stale


def start_band(state: PoolState, now: datetime) -> StartBand:
    """Queue-depth heuristic: runs ahead of us, divided among free slots, times the mean run time."""
    slots = state.concurrency_limit or max(state.workers_online, 1)
    ahead = state.active_runs + state.due_runs
    waves = max(0, math.ceil((ahead + 1) / slots) - 1)
    mean = state.mean_run_duration or DEFAULT_RUN_DURATION
    earliest = now + PICKUP[0] + waves * mean
    latest = now + PICKUP[1] + (waves + 1 if waves else 0) * mean
    source = f"queue-depth heuristic ({ahead} run(s) ahead, {slots} slot(s), mean run {mean.total_seconds():.0f} s)"
    return StartBand(earliest=earliest, latest=latest, source=source)


def build_snapshot(
    name: str, work_pool: str, state: PoolState, cores: int, memory_gib: float, now: datetime
) -> PlatformSnapshot:
    reasons: list[str] = []
    if not state.exists:
        reasons.append(f"work pool {work_pool} does not exist")
    elif state.paused:
        reasons.append(f"work pool {work_pool} is paused")
    elif state.workers_online == 0:
        stale = f" ({state.workers_stale} with a stale heartbeat)" if state.workers_stale else ""
        reasons.append(f"no worker online in work pool {work_pool}{stale}")
    available = not reasons
    free_fraction = 1.0
    if state.concurrency_limit:
        free_fraction = max(state.concurrency_limit - state.active_runs, 0) / state.concurrency_limit
    return PlatformSnapshot(
        name=name,
        kind=PlatformKind.PREFECT_POOL,
        work_pool=work_pool,
        available=available,
        total_cores=cores,
        free_cores=int(cores * free_fraction),
        total_memory_gib=memory_gib,
        free_memory_gib=memory_gib * free_fraction,
        start=start_band(state, now) if available else None,
        unavailable_reasons=tuple(reasons),
        facts={
            "status": state.status,
            "concurrency_limit": state.concurrency_limit,
            "workers_online": state.workers_online,
            "active_runs": state.active_runs,
            "due_runs": state.due_runs,
        },
    )


def build_flow_parameters(spec: LaunchSpec) -> dict[str, Any]:
    """Parameters of the job's flow: the image(s), output_dir, extraction params, the map options (``save``)
    and the options this engine does not implement (``unapplied``, both extract-image only), and a Dask
    cluster sized by the accepted offer. ``survey-reprocess`` takes every
    input; the others the first."""
    executable = spec.executable
    inputs = executable.get("inputs") or []
    options = executable.get("options") or {}
    if not isinstance(inputs, list) or not inputs or not isinstance(options, dict):
        raise PlatformRejectedError(f"session {spec.session_id}: a caesar job needs inputs (image paths)")
    output_dir = executable.get("output_dir") or options.get("output_dir")
    parameters: dict[str, Any] = {"output_dir": str(output_dir)}
    if executable.get("flow") == "survey-reprocess":
        parameters["selection"] = {"images": [str(i) for i in inputs]}
    else:
        parameters["image"] = str(inputs[0])
        if executable.get("flow", "extract-image") == "extract-image":
            if saves := map_options(options):
                parameters["save"] = saves
            if unapplied := unapplied_options(options):
                parameters["unapplied"] = unapplied
    params = extraction_params(options)
    if params:
        parameters["params"] = params
    parameters["cluster"] = dask_cluster_parameters(spec.cores, spec.memory_gib)
    return parameters


RETRIES = 5
RETRY_STATUSES = frozenset({408, 429, 502, 503})


class _Launching:
    """Launch methods of :class:`PrefectPoolAdapter` (kept apart only to keep its read side short)."""

    api_url: str
    timeout_s: float
    work_pool: str
    launch_runs: bool
    _clients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient]

    def _client(self) -> httpx.AsyncClient:
        """One pooled client per event loop (a client cannot move between loops)."""
        loop = asyncio.get_running_loop()
        clients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = self.__dict__.setdefault("_clients", {})
        for stale in [other for other in clients if other.is_closed()]:
            del clients[stale]
        if loop not in clients:
            clients[loop] = httpx.AsyncClient(base_url=self.api_url, timeout=self.timeout_s)
        return clients[loop]

    async def aclose(self) -> None:
        client = self.__dict__.get("_clients", {}).pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()

    def accepts(self, spec: LaunchSpec) -> bool:
        """Only caesar jobs, and only when this broker creates the flow runs (``launch_runs``)."""
        return self.launch_runs and spec.executable.get("kind") == kinds.CAESAR_JOB

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        """One API call; 408/429/502/503 (Prefect on SQLite answers 503 when its database is locked)
        are retried with back-off, which is safe: flow runs are created with an idempotency key."""
        try:
            client = self._client()
            for attempt in range(RETRIES + 1):
                response = await client.request(method, path, json=body)
                if response.status_code not in RETRY_STATUSES or attempt == RETRIES:
                    break
                await asyncio.sleep(0.25 * 2**attempt)
        except httpx.HTTPError as exc:
            raise PlatformUnavailableError(
                f"Prefect API at {self.api_url} unreachable: {type(exc).__name__}: {exc}"
            ) from exc
        if response.status_code == 404:
            raise NotFoundError(f"Prefect API {method} {path}: not found")
        if response.status_code >= 400:
            raise PlatformRejectedError(
                f"Prefect API {method} {path} answered {response.status_code}: {response.text[:300]}"
            )
        return response.json() if response.content else None

    async def start(self, spec: LaunchSpec) -> str:
        flow = str(spec.executable.get("flow") or "extract-image")
        try:
            deployment = await self._call("GET", f"/deployments/name/{flow}/{self.work_pool}")
        except NotFoundError as exc:
            raise PlatformRejectedError(f"no deployment {flow}/{self.work_pool} on work pool {self.work_pool}") from exc
        body = {
            "parameters": build_flow_parameters(spec),
            "idempotency_key": spec.session_id,
            "state": {"type": "SCHEDULED", "state_details": {"scheduled_time": spec.start.isoformat()}},
            "tags": ["cirasa-broker", f"session:{spec.session_id}"],
        }
        run = await self._call("POST", f"/deployments/{deployment['id']}/create_flow_run", body)
        return str(run["id"])

    async def poll(self, run_id: str) -> RunStatus:
        run = await self._call("GET", f"/flow_runs/{run_id}")
        state = run.get("state") or {}
        status = phase_from_prefect(str(state.get("type", "SCHEDULED")), state.get("name"))
        if state.get("message"):
            return RunStatus(status.phase, status.state, f"{status.detail}: {state['message']}", status.level)
        return status

    async def cancel(self, run_id: str) -> None:
        await self._call("POST", f"/flow_runs/{run_id}/set_state", {"state": {"type": "CANCELLING"}, "force": True})


class PrefectRunLauncher(_Launching):
    """Runs accepted caesar jobs as flow runs of ``<flow>/<work_pool>`` (any platform behind a pool)."""

    def __init__(self, *, work_pool: str, api_url: str | None = None, timeout_s: float = 5.0) -> None:
        url = api_url or os.environ.get("PREFECT_API_URL")
        if not url:
            raise ValueError("PrefectRunLauncher needs api_url or PREFECT_API_URL")
        self.work_pool = work_pool
        self.api_url = url.rstrip("/")
        self.timeout_s = timeout_s
        self.launch_runs = True


class LaunchThroughPrefect:
    """A platform read by its own adapter (Slurm, Kubernetes) whose work is started through the
    Prefect work pool that fronts it: snapshots from ``adapter``, runs from ``launcher``."""

    def __init__(self, adapter: PlatformAdapter, launcher: PrefectRunLauncher) -> None:
        self.name = adapter.name
        self.adapter = adapter
        self.launcher = launcher
        self.api_url = launcher.api_url

    async def snapshot(self, request: ResourceRequest) -> PlatformSnapshot:
        return await self.adapter.snapshot(request)

    def accepts(self, spec: LaunchSpec) -> bool:
        return self.launcher.accepts(spec)

    async def start(self, spec: LaunchSpec) -> str:
        return await self.launcher.start(spec)

    async def poll(self, run_id: str) -> RunStatus:
        return await self.launcher.poll(run_id)

    async def cancel(self, run_id: str) -> None:
        await self.launcher.cancel(run_id)

    def __repr__(self) -> str:
        return f"LaunchThroughPrefect({self.adapter!r}, work_pool={self.launcher.work_pool!r})"


class PrefectPoolAdapter(_Launching):
    """Reads one work pool. ``api_url`` defaults to ``PREFECT_API_URL``.

    With ``launch_runs`` it also creates the flow run of an accepted caesar job (deployment
    ``<flow>/<work_pool>``), reports its state and cancels it; otherwise the client runs the work.
    """

    def __init__(
        self,
        *,
        name: str,
        work_pool: str,
        api_url: str | None = None,
        cores: int | None = None,
        memory_gib: float | None = None,
        timeout_s: float = 5.0,
        launch_runs: bool = False,
    ) -> None:
        url = api_url or os.environ.get("PREFECT_API_URL")
        if not url:
            raise ValueError("PrefectPoolAdapter needs api_url or PREFECT_API_URL")
        self.name = name
        self.work_pool = work_pool
        self.api_url = url.rstrip("/")
        self.cores = cores or os.cpu_count() or 1
        self.memory_gib = memory_gib or round(machine_memory_gib(), 1)
        self.timeout_s = timeout_s
        self.launch_runs = launch_runs

    async def snapshot(self, request: ResourceRequest) -> PlatformSnapshot:
        now = datetime.now(UTC)
        try:
            state = await self.fetch_state(self._client(), now)
        except httpx.HTTPError as exc:
            raise PlatformUnavailableError(
                f"Prefect API at {self.api_url} unreachable for pool {self.work_pool}: {type(exc).__name__}: {exc}"
            ) from exc
        return build_snapshot(self.name, self.work_pool, state, self.cores, self.memory_gib, now)

    async def fetch_state(self, client: httpx.AsyncClient, now: datetime) -> PoolState:
        pool_response = await client.get(f"/work_pools/{self.work_pool}")
        if pool_response.status_code == 404:
            return PoolState(False, "MISSING", False, None, 0, 0, 0, 0, None)
        pool_response.raise_for_status()
        pool = pool_response.json()
        workers = (await client.post(f"/work_pools/{self.work_pool}/workers/filter", json={})).raise_for_status()
        online, stale = workers_online(workers.json(), now)
        pool_filter = {"work_pools": {"name": {"any_": [self.work_pool]}}}
        active = await self._count(client, {**pool_filter, "flow_runs": {"state": {"type": {"any_": ACTIVE_STATES}}}})
        due = await self._count(
            client,
            {
                **pool_filter,
                "flow_runs": {
                    "state": {"type": {"any_": ["SCHEDULED"]}},
                    "next_scheduled_start_time": {"before_": now.isoformat()},
                },
            },
        )
        recent = await client.post(
            "/flow_runs/filter",
            json={
                **pool_filter,
                "flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}},
                "sort": "END_TIME_DESC",
                "limit": 10,
            },
        )
        recent.raise_for_status()
        durations = [float(r.get("total_run_time") or 0.0) for r in recent.json()]
        mean = timedelta(seconds=sum(durations) / len(durations)) if durations else None
        return PoolState(
            exists=True,
            status=str(pool.get("status")),
            paused=bool(pool.get("is_paused")),
            concurrency_limit=pool.get("concurrency_limit"),
            workers_online=online,
            workers_stale=stale,
            active_runs=active,
            due_runs=due,
            mean_run_duration=mean,
        )

    @staticmethod
    async def _count(client: httpx.AsyncClient, body: dict[str, Any]) -> int:
        response = await client.post("/flow_runs/count", json=body)
        response.raise_for_status()
        return int(response.json())
