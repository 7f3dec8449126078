"""Another ExecutionBroker as a platform: federation (ours, or any broker that speaks the protocol).

``snapshot`` sends the request on to the remote broker (``POST /requests`` through
:class:`planner.client.BrokerClient`), reads its best offer as capacity plus a start band, and
REJECTS every remote offer at once (in the background, off the answer's path, and still when the
caller's time-out strikes): this broker makes its own offer on the remote platform, so nothing
stays reserved over there while the client decides. Offers whose offer set never arrived (the
remote answered after the time-out) are released by the remote broker's own expiry. A NO becomes
"unavailable" with the remote broker's own messages.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import httpx

from planner.client import BrokerClient
from planner.engine.model import PlatformKind, PlatformSnapshot, ResourceRequest, StartBand
from planner.engine.request import parse_duration, parse_interval
from planner.errors import PlannerError, PlatformUnavailableError
from planner.wire import kinds
from planner.wire.models import (
    CaesarJobExecutable,
    ExecutionRequest,
    MinMaxInteger,
    OfferSetResponse,
    RequestedScheduleBlock,
    RequestedScheduleItem,
    ScheduledExecutionSession,
    SimpleComputeResource,
    SimpleExecutionSessionPhase,
)

logger = logging.getLogger(__name__)

MONETARY_COST = "urn:ivoa:calycopis:cost:monetary"
COST_KIND = kinds.P7 + "costs/simple-minmax-float-cost.yaml"


def build_remote_request(request: ResourceRequest) -> ExecutionRequest:
    """The engine's request translated back to the wire, to ask another broker the same question."""
    start = None
    if request.start_before is not None and request.start_after is not None:
        start = f"{request.start_after.isoformat()}/{request.start_before.isoformat()}"
    costs = []
    if request.cost_max is not None:
        costs.append({"kind": COST_KIND, "type": MONETARY_COST, "min": 0.0, "max": request.cost_max})
    return ExecutionRequest(
        executable=CaesarJobExecutable(kind=kinds.CAESAR_JOB, flow=request.flow, inputs=list(request.inputs)),
        compute=SimpleComputeResource(
            cores=MinMaxInteger(min=request.cores_min, max=request.cores_max),
            memory=MinMaxInteger(min=request.memory_gib_min, max=request.memory_gib_max),
        ),
        schedule=RequestedScheduleBlock(
            requested=RequestedScheduleItem(start=start, duration=f"PT{int(request.duration.total_seconds())}S")
        ),
        costs=costs,
    )


def usable_offers(offer_set: OfferSetResponse, now: datetime) -> list[ScheduledExecutionSession]:
    """Offers still OFFERED and unexpired, best first: remote score, then earliest start, then order given."""

    def key(pair: tuple[int, ScheduledExecutionSession]) -> tuple[float, datetime, int]:
        index, offer = pair
        placement = offer.placement
        earliest = placement.start_earliest if placement else datetime.max.replace(tzinfo=UTC)
        return (-(placement.score if placement else 0.0), earliest, index)

    live = [
        (i, o)
        for i, o in enumerate(offer_set.offers)
        if o.phase == SimpleExecutionSessionPhase.OFFERED and (o.expires is None or o.expires > now)
    ]
    return [o for _, o in sorted(live, key=key)]


def offer_start(offer: ScheduledExecutionSession, url: str) -> StartBand | None:
    """The offer's start band: our placement extension, else the schedule's ``available.start``."""
    prefix = f"remote broker {url}"
    if offer.placement is not None:
        placement = offer.placement
        return StartBand(placement.start_earliest, placement.start_latest, f"{prefix}: {placement.start_source}")
    available = offer.schedule.available if offer.schedule else None
    if available is None or not available.start:
        return None
    try:
        if "/" in available.start and available.start.split("/", 1)[1].startswith("P"):
            head, tail = available.start.split("/", 1)
            earliest, _ = parse_interval(head)
            latest = earliest + parse_duration(tail)
        else:
            earliest, latest = parse_interval(available.start)
    except ValueError:
        return None
    return StartBand(earliest, latest, f"{prefix}: offered schedule")


def _range(value: MinMaxInteger | None) -> int:
    if value is None:
        return 0
    return int(value.max if value.max is not None else value.min or 0)


def build_snapshot(name: str, work_pool: str, url: str, offer_set: OfferSetResponse, now: datetime) -> PlatformSnapshot:
    """Read a remote offer set as one snapshot (pure): the best offer's resources and start band."""
    offers = usable_offers(offer_set, now)
    facts: dict[str, str | int | float | bool | None] = {
        "remote_url": url,
        "remote_offer_set": offer_set.meta.url if offer_set.meta else None,
        "remote_result": offer_set.result,
        "remote_offers": len(offer_set.offers),
    }
    if not offers:
        messages = [m.message or m.template for m in (offer_set.meta.messages if offer_set.meta else [])]
        said = "; ".join(messages) if messages else "no reason given"
        return PlatformSnapshot(
            name=name,
            kind=PlatformKind.BROKER,
            work_pool=work_pool,
            available=False,
            total_cores=0,
            free_cores=0,
            total_memory_gib=0,
            free_memory_gib=0,
            unavailable_reasons=(f"remote broker {url} answered {offer_set.result} with no usable offer: {said}",),
            facts=facts,
        )
    best = offers[0]
    compute = best.compute
    cores = _range(compute.cores if compute else None)
    memory = _range(compute.memory if compute else None)
    if best.placement is not None:
        facts["remote_platform"] = best.placement.platform
        facts["remote_work_pool"] = best.placement.work_pool
    return PlatformSnapshot(
        name=name,
        kind=PlatformKind.BROKER,
        work_pool=work_pool,
        available=True,
        total_cores=cores,
        free_cores=cores,
        total_memory_gib=memory,
        free_memory_gib=memory,
        start=offer_start(best, url),
        max_cores_per_job=cores,
        max_memory_gib_per_job=memory,
        facts=facts,
    )


async def reject_offers(client: BrokerClient, offer_set: OfferSetResponse) -> int:
    """Reject every offer of ``offer_set`` still OFFERED (concurrently); return how many were rejected.

    An offer that expired or was taken meanwhile holds nothing any more: logged, not raised.
    """
    uuids = [
        o.meta.uuid
        for o in offer_set.offers
        if o.phase == SimpleExecutionSessionPhase.OFFERED and o.meta is not None and o.meta.uuid
    ]
    results = await asyncio.gather(*(client.set_phase(u, "REJECTED") for u in uuids), return_exceptions=True)
    for uuid, result in zip(uuids, results, strict=True):
        if isinstance(result, PlannerError):
            logger.info("broker %s: offer %s not rejected: %s", client.base_url, uuid, result.detail)
        elif isinstance(result, BaseException):
            raise result
    return sum(1 for r in results if not isinstance(r, BaseException))


class RemoteBrokerAdapter:
    """Asks the broker at ``url``. ``work_pool`` is the Prefect work pool that runs work over there.

    ``timeout_s`` bounds the whole exchange (request, offer set, rejections); a broker that does not
    answer in time raises :class:`PlatformUnavailableError` ("did not answer within ...").
    """

    def __init__(
        self,
        *,
        name: str,
        url: str,
        work_pool: str,
        token: str | None = None,
        timeout_s: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name = name
        self.url = url.rstrip("/")
        self.work_pool = work_pool
        self.timeout_s = timeout_s
        self._token = token
        self._transport = transport
        self._clients: tuple[asyncio.AbstractEventLoop, BrokerClient] | None = None
        self._rejecting: set[asyncio.Future[int]] = set()

    def _client(self) -> BrokerClient:
        """One client per event loop, kept: building an httpx client costs ~35 ms of CPU (TLS context),
        which would be paid on every request and block the loop while 20 platforms are asked."""
        loop = asyncio.get_running_loop()
        if self._clients is None or self._clients[0] is not loop:
            client = BrokerClient(self.url, token=self._token, timeout_s=self.timeout_s, transport=self._transport)
            self._clients = (loop, client)
        return self._clients[1]

    async def settle(self) -> None:
        """Wait until the rejections of remote offers already read have been sent."""
        await asyncio.gather(*self._rejecting, return_exceptions=True)

    async def aclose(self) -> None:
        await self.settle()
        if self._clients is not None:
            await self._clients[1].aclose()
            self._clients = None

    async def snapshot(self, request: ResourceRequest) -> PlatformSnapshot:
        body = build_remote_request(request)
        client = self._client()
        try:
            async with asyncio.timeout(self.timeout_s):
                offer_set = await client.request_offers(body)
                snapshot = build_snapshot(self.name, self.work_pool, self.url, offer_set, datetime.now(UTC))
                # In the background, off the answer's path, and immune to this call's time-out.
                rejecting = asyncio.ensure_future(reject_offers(client, offer_set))
                self._rejecting.add(rejecting)
                rejecting.add_done_callback(self._rejecting.discard)
        except TimeoutError as exc:
            raise PlatformUnavailableError(
                f"remote broker {self.url} did not answer within {self.timeout_s:g} s"
            ) from exc
        except PlatformUnavailableError:
            raise
        except PlannerError as exc:
            raise PlatformUnavailableError(f"remote broker {self.url} failed: {exc.detail}") from exc
        return snapshot

    def __repr__(self) -> str:
        return f"RemoteBrokerAdapter(name={self.name!r}, url={self.url!r}, work_pool={self.work_pool!r})"
