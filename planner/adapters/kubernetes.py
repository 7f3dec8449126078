"""A Kubernetes namespace as a platform: ResourceQuota plus allocatable node resources, read-only.

Plain httpx against the API server (``GET /api/v1/nodes``, ``/api/v1/namespaces/{ns}/resourcequotas``,
``/api/v1/pods`` of non-terminated pods): no client library. Credentials come from the kubeconfig's
current context (bearer token, client certificate, CA) or from an explicit server and token;
``exec`` and auth-provider plugins are not supported (say so instead of guessing).
Parsing is pure (``parse_*``, ``build_snapshot``) and tested on recorded API responses.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import ssl
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml

from planner.engine.model import PlatformKind, PlatformSnapshot, ResourceRequest, StartBand
from planner.errors import PlatformUnavailableError

GIB = 2**30
_SUFFIX = {
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
    "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
}  # fmt: skip
_QUANTITY = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$")
# A pod with capacity waiting for it is scheduled and started in seconds to a minute (image pull).
POD_START = (timedelta(seconds=2), timedelta(seconds=60))
QUEUED = (timedelta(seconds=60), timedelta(hours=1))


def parse_quantity(text: str | int | float) -> float:
    """A Kubernetes quantity (``"500m"``, ``"2"``, ``"8Gi"``, ``"129e6"``) as a plain number."""
    if isinstance(text, int | float):
        return float(text)
    match = _QUANTITY.match(text.strip())
    if not match or match.group(2) not in ("", *_SUFFIX):
        raise ValueError(f"not a Kubernetes quantity: {text!r}")
    number, suffix = match.groups()
    return float(number) * (_SUFFIX[suffix] if suffix else 1.0)


@dataclass(frozen=True)
class Node:
    name: str
    cpu: float
    memory_bytes: float
    ready: bool
    schedulable: bool


@dataclass(frozen=True)
class Quota:
    """The tightest hard limit and its use for CPU and memory requests in one namespace (None: no quota)."""

    cpu_hard: float | None = None
    cpu_used: float = 0.0
    memory_hard: float | None = None
    memory_used: float = 0.0
    pods_hard: float | None = None
    pods_used: float = 0.0
    names: tuple[str, ...] = ()


@dataclass(frozen=True)
class PodLoad:
    """CPU and memory requested by non-terminated pods, per node; ``pending`` pods have no node yet."""

    cpu_by_node: dict[str, float] = field(default_factory=dict)
    memory_by_node: dict[str, float] = field(default_factory=dict)
    pending: int = 0


def parse_nodes(document: dict[str, Any]) -> list[Node]:
    """``GET /api/v1/nodes`` → allocatable CPU and memory, Ready condition, cordon state."""
    nodes = []
    for item in document.get("items", []):
        status = item.get("status", {})
        allocatable = status.get("allocatable", {})
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions", []))
        nodes.append(
            Node(
                name=item["metadata"]["name"],
                cpu=parse_quantity(allocatable.get("cpu", "0")),
                memory_bytes=parse_quantity(allocatable.get("memory", "0")),
                ready=ready,
                schedulable=not item.get("spec", {}).get("unschedulable", False),
            )
        )
    return nodes


def _tightest(quotas: list[dict[str, Any]], keys: tuple[str, ...]) -> tuple[float | None, float]:
    best: tuple[float | None, float] = (None, 0.0)
    for quota in quotas:
        hard, used = quota.get("status", {}).get("hard", {}), quota.get("status", {}).get("used", {})
        for key in keys:
            if key in hard:
                limit, use = parse_quantity(hard[key]), parse_quantity(used.get(key, "0"))
                if best[0] is None or limit - use < best[0] - best[1]:
                    best = (limit, use)
    return best


def parse_quotas(document: dict[str, Any]) -> Quota:
    """``GET /api/v1/namespaces/{ns}/resourcequotas`` → the tightest CPU, memory and pod quota."""
    items = document.get("items", [])
    cpu = _tightest(items, ("requests.cpu", "cpu"))
    memory = _tightest(items, ("requests.memory", "memory"))
    pods = _tightest(items, ("pods", "count/pods"))
    return Quota(
        cpu_hard=cpu[0],
        cpu_used=cpu[1],
        memory_hard=memory[0],
        memory_used=memory[1],
        pods_hard=pods[0],
        pods_used=pods[1],
        names=tuple(sorted(i["metadata"]["name"] for i in items)),
    )


def parse_pods(document: dict[str, Any]) -> PodLoad:
    """``GET /api/v1/pods`` → requests of Pending and Running pods, summed per node."""
    cpu: dict[str, float] = {}
    memory: dict[str, float] = {}
    pending = 0
    for pod in document.get("items", []):
        phase = pod.get("status", {}).get("phase")
        if phase not in ("Pending", "Running"):
            continue
        node = pod.get("spec", {}).get("nodeName")
        if node is None:
            pending += 1
            continue
        for container in pod.get("spec", {}).get("containers", []):
            requests = container.get("resources", {}).get("requests", {})
            cpu[node] = cpu.get(node, 0.0) + parse_quantity(requests.get("cpu", "0"))
            memory[node] = memory.get(node, 0.0) + parse_quantity(requests.get("memory", "0"))
    return PodLoad(cpu_by_node=cpu, memory_by_node=memory, pending=pending)


def _cap(value: float, limit: float | None) -> float:
    return value if limit is None else min(value, limit)


def build_snapshot(
    name: str,
    work_pool: str,
    namespace: str,
    nodes: list[Node],
    quota: Quota,
    load: PodLoad,
    request: ResourceRequest,
    now: datetime,
) -> PlatformSnapshot:
    """Capacity = Ready, schedulable nodes' allocatable, less what pods request, capped by the quota."""
    usable = [n for n in nodes if n.ready and n.schedulable]
    total_cpu = sum(n.cpu for n in usable)
    total_memory = sum(n.memory_bytes for n in usable)
    node_free = [
        (n.cpu - load.cpu_by_node.get(n.name, 0.0), n.memory_bytes - load.memory_by_node.get(n.name, 0.0))
        for n in usable
    ]
    quota_cpu = None if quota.cpu_hard is None else quota.cpu_hard - quota.cpu_used
    quota_memory = None if quota.memory_hard is None else quota.memory_hard - quota.memory_used
    # One job is one pod: it must fit on a single node, and within what the quota has left.
    free_cpu = _cap(max((c for c, _ in node_free), default=0.0), quota_cpu)
    free_memory = _cap(max((m for _, m in node_free), default=0.0), quota_memory)
    reasons = []
    if not usable:
        reasons.append(f"no Ready, schedulable node ({len(nodes)} node(s) listed)")
    if quota.pods_hard is not None and quota.pods_used >= quota.pods_hard:
        reasons.append(f"pod quota of namespace {namespace} is used up ({quota.pods_used:g}/{quota.pods_hard:g})")
    fits = free_cpu >= request.cores_min and free_memory >= request.memory_gib_min * GIB
    if fits:
        start = StartBand(now + POD_START[0], now + POD_START[1], "free allocatable and quota (Kubernetes API)")
    else:
        start = StartBand(
            now + QUEUED[0],
            now + QUEUED[1],
            f"no free capacity now, {load.pending} pod(s) pending; Kubernetes gives no start estimate",
        )
    return PlatformSnapshot(
        name=name,
        kind=PlatformKind.KUBERNETES,
        work_pool=work_pool,
        available=not reasons,
        total_cores=int(_cap(total_cpu, quota.cpu_hard)),
        free_cores=int(max(free_cpu, 0.0)),
        total_memory_gib=round(_cap(total_memory, quota.memory_hard) / GIB, 2),
        free_memory_gib=round(max(free_memory, 0.0) / GIB, 2),
        start=None if reasons else start,
        max_cores_per_job=int(_cap(max((n.cpu for n in usable), default=0.0), quota.cpu_hard)),
        max_memory_gib_per_job=round(
            _cap(max((n.memory_bytes for n in usable), default=0.0), quota.memory_hard) / GIB, 2
        ),
        unavailable_reasons=tuple(reasons),
        facts={
            "namespace": namespace,
            "nodes_usable": len(usable),
            "nodes_listed": len(nodes),
            "quotas": ",".join(quota.names) or None,
            "quota_cpu_left": quota_cpu,
            "quota_memory_gib_left": None if quota_memory is None else round(quota_memory / GIB, 2),
            "pods_pending": load.pending,
        },
    )


@dataclass(frozen=True)
class KubeAccess:
    """Where the API server is and how to authenticate (from a kubeconfig or given explicitly)."""

    server: str
    token: str | None = None
    verify: ssl.SSLContext | bool = True


def _data_or_file(entry: dict[str, Any], key: str, base: Path) -> bytes | None:
    if entry.get(f"{key}-data"):
        return base64.b64decode(entry[f"{key}-data"])
    if entry.get(key):
        return (base / str(entry[key])).read_bytes()
    return None


def load_kubeconfig(path: Path) -> KubeAccess:
    """Read the current context of a kubeconfig: server, token or client certificate, CA."""
    config = yaml.safe_load(path.read_text()) or {}
    current = config.get("current-context")
    contexts = {c["name"]: c["context"] for c in config.get("contexts", [])}
    if current not in contexts:
        raise ValueError(f"kubeconfig {path}: current-context {current!r} not among {sorted(contexts)}")
    context = contexts[current]
    cluster = {c["name"]: c["cluster"] for c in config.get("clusters", [])}[context["cluster"]]
    user = {u["name"]: u["user"] for u in config.get("users", [])}.get(context.get("user"), {})
    if "exec" in user or "auth-provider" in user:
        raise ValueError(f"kubeconfig {path}: exec/auth-provider credentials are not supported; use a token")
    base = path.parent
    verify: ssl.SSLContext | bool = not cluster.get("insecure-skip-tls-verify", False)
    if verify:
        context_ssl = ssl.create_default_context()
        ca = _data_or_file(cluster, "certificate-authority", base)
        if ca:
            context_ssl.load_verify_locations(cadata=ca.decode())
        cert, key = _data_or_file(user, "client-certificate", base), _data_or_file(user, "client-key", base)
        if cert and key:
            with tempfile.TemporaryDirectory() as tmp:  # ssl loads a key pair only from files
                Path(tmp, "c.pem").write_bytes(cert)
                Path(tmp, "k.pem").write_bytes(key)
                context_ssl.load_cert_chain(Path(tmp, "c.pem"), Path(tmp, "k.pem"))
        verify = context_ssl
    token = user.get("token") or (Path(base, user["tokenFile"]).read_text().strip() if user.get("tokenFile") else None)
    return KubeAccess(server=str(cluster["server"]).rstrip("/"), token=token, verify=verify)


class KubernetesAdapter:
    """Reads one namespace of a cluster. ``server``/``token`` override the kubeconfig (``KUBECONFIG``)."""

    def __init__(
        self,
        *,
        name: str,
        namespace: str,
        work_pool: str,
        server: str | None = None,
        token: str | None = None,
        kubeconfig: Path | None = None,
        timeout_s: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name = name
        self._transport = transport
        self.namespace = namespace
        self.work_pool = work_pool
        self.timeout_s = timeout_s
        self._server, self._token = server, token
        self._kubeconfig = kubeconfig

    def access(self) -> KubeAccess:
        if self._server:
            return KubeAccess(server=self._server.rstrip("/"), token=self._token)
        path = self._kubeconfig or (Path(os.environ["KUBECONFIG"]) if os.environ.get("KUBECONFIG") else None)
        if path is None:
            raise PlatformUnavailableError(f"platform {self.name}: no API server configured and KUBECONFIG unset")
        try:
            return load_kubeconfig(path)
        except (OSError, ValueError, KeyError, ssl.SSLError) as exc:
            raise PlatformUnavailableError(f"platform {self.name}: unusable kubeconfig: {exc}") from exc

    async def snapshot(self, request: ResourceRequest) -> PlatformSnapshot:
        access = self.access()
        headers = {"Accept": "application/json"}
        if access.token:
            headers["Authorization"] = f"Bearer {access.token}"
        active = {"fieldSelector": "status.phase!=Succeeded,status.phase!=Failed"}
        try:
            async with httpx.AsyncClient(
                base_url=access.server,
                headers=headers,
                verify=access.verify,
                timeout=self.timeout_s,
                transport=self._transport,
            ) as client:
                nodes, quotas, pods = await asyncio.gather(
                    client.get("/api/v1/nodes"),
                    client.get(f"/api/v1/namespaces/{self.namespace}/resourcequotas"),
                    client.get("/api/v1/pods", params=active),
                )
        except httpx.HTTPError as exc:
            raise PlatformUnavailableError(
                f"Kubernetes API at {access.server} unreachable: {type(exc).__name__}: {exc}"
            ) from exc
        for response in (nodes, quotas, pods):
            if response.status_code != 200:
                raise PlatformUnavailableError(
                    f"Kubernetes API at {access.server}: GET {response.request.url.path} answered "
                    f"{response.status_code}: {response.text[:300]}"
                )
        now = datetime.now(UTC)
        return build_snapshot(
            self.name,
            self.work_pool,
            self.namespace,
            parse_nodes(nodes.json()),
            parse_quotas(quotas.json()),
            parse_pods(pods.json()),
            request,
            now,
        )
