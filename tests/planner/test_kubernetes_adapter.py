"""KubernetesAdapter: pure parsers on recorded API responses (tests/data/kubernetes/), the HTTP path
against those responses, and an opt-in test against a real cluster (KUBECONFIG)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from planner.adapters.kubernetes import (
    GIB,
    KubernetesAdapter,
    build_snapshot,
    load_kubeconfig,
    parse_nodes,
    parse_pods,
    parse_quantity,
    parse_quotas,
)
from planner.adapters.prefect_pool import LaunchThroughPrefect
from planner.adapters.registry import build_adapters
from planner.engine.model import ResourceRequest
from planner.errors import PlatformUnavailableError
from planner.settings import BrokerSettings, PlatformConfig

DATA = Path(__file__).resolve().parents[1] / "data" / "kubernetes"
NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


def recorded(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((DATA / name).read_text())
    return document


@pytest.mark.parametrize(
    ("text", "value"),
    [("7910m", 7.91), ("2", 2.0), ("31719720Ki", 31719720 * 1024), ("24Gi", 24 * GIB), ("129e6", 129e6), ("1G", 1e9)],
)
def test_parse_quantity(text: str, value: float) -> None:
    assert parse_quantity(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["", "12Qi", "abc", "1.2.3"])
def test_parse_quantity_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not a Kubernetes quantity"):
        parse_quantity(text)


def test_nodes_keep_ready_and_cordon_state() -> None:
    nodes = {n.name: n for n in parse_nodes(recorded("nodes.json"))}
    assert nodes["worker-a"].cpu == pytest.approx(7.91)
    assert nodes["worker-a"].memory_bytes == 31719720 * 1024
    assert (nodes["worker-c"].ready, nodes["worker-c"].schedulable) == (True, False)
    assert (nodes["worker-d"].ready, nodes["worker-d"].schedulable) == (False, True)


def test_quota_is_the_tightest_cpu_memory_and_pod_limit() -> None:
    quota = parse_quotas(recorded("resourcequotas.json"))
    assert (quota.cpu_hard, quota.cpu_used) == (10.0, 3.5)
    assert (quota.memory_hard, quota.memory_used) == (24 * GIB, 6 * GIB)
    assert (quota.pods_hard, quota.pods_used) == (20.0, 3.0)
    assert quota.names == ("cirasa-compute", "cirasa-objects")


def test_pods_requests_are_summed_per_node_without_finished_pods() -> None:
    load = parse_pods(recorded("pods.json"))
    assert load.cpu_by_node == pytest.approx({"worker-a": 3.6, "worker-b": 3.1})
    assert load.memory_by_node["worker-a"] == 6 * GIB + 64 * 2**20
    assert load.pending == 1


def snapshot_from(quotas: str, request: ResourceRequest) -> Any:
    return build_snapshot(
        "k8s",
        "cirasa-k8s",
        "cirasa",
        parse_nodes(recorded("nodes.json")),
        parse_quotas(recorded(quotas)),
        parse_pods(recorded("pods.json")),
        request,
        NOW,
    )


def test_snapshot_is_node_capacity_capped_by_the_quota() -> None:
    snapshot = snapshot_from(
        "resourcequotas.json", ResourceRequest(cores_min=2, cores_max=2, memory_gib_min=4, memory_gib_max=4)
    )
    assert snapshot.available
    assert (snapshot.total_cores, snapshot.total_memory_gib) == (10, 24.0)  # quota below two nodes' 11.83 CPUs
    assert snapshot.free_cores == 4  # worker-a: 7.91 - 3.6 requested
    assert snapshot.free_memory_gib == 18.0  # quota: 24 Gi - 6 Gi used
    assert (snapshot.max_cores_per_job, snapshot.max_memory_gib_per_job) == (7, 24.0)  # one pod, one node
    assert snapshot.start is not None
    assert (snapshot.start.earliest - NOW, snapshot.start.latest - NOW) == (timedelta(seconds=2), timedelta(minutes=1))
    assert snapshot.start.source == "free allocatable and quota (Kubernetes API)"
    assert snapshot.facts["nodes_usable"] == 2
    assert snapshot.facts["quota_cpu_left"] == 6.5


def test_request_above_free_capacity_gets_a_late_band_that_says_why() -> None:
    snapshot = snapshot_from("resourcequotas.json", ResourceRequest(cores_min=6, cores_max=6))
    assert snapshot.available
    assert snapshot.start is not None
    assert snapshot.start.earliest - NOW == timedelta(minutes=1)
    assert snapshot.start.source == "no free capacity now, 1 pod(s) pending; Kubernetes gives no start estimate"


def test_used_up_pod_quota_makes_the_namespace_unavailable() -> None:
    snapshot = snapshot_from("resourcequotas-exhausted.json", ResourceRequest())
    assert not snapshot.available
    assert snapshot.unavailable_reasons == ("pod quota of namespace cirasa is used up (20/20)",)
    assert snapshot.free_cores == 0


def recorded_api(seen: list[httpx.Request]) -> httpx.MockTransport:
    """Stands in for a Kubernetes API server (none can run here, see slurm-kubernetes.md §9),
    answering with the recorded responses."""
    files = {
        "/api/v1/nodes": "nodes.json",
        "/api/v1/namespaces/cirasa/resourcequotas": "resourcequotas.json",
        "/api/v1/pods": "pods.json",
    }

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path not in files:
            return httpx.Response(404, json={"kind": "Status", "reason": "NotFound"})
        return httpx.Response(200, json=recorded(files[request.url.path]))

    return httpx.MockTransport(handle)


async def test_adapter_reads_the_three_lists_with_the_token_and_only_active_pods() -> None:
    seen: list[httpx.Request] = []
    adapter = KubernetesAdapter(
        name="k8s",
        namespace="cirasa",
        work_pool="cirasa-k8s",
        server="https://k8s.example:6443",
        token="t0ken",
        transport=recorded_api(seen),
    )
    snapshot = await adapter.snapshot(ResourceRequest())
    assert (snapshot.available, snapshot.free_cores, snapshot.work_pool) == (True, 4, "cirasa-k8s")
    assert sorted(r.url.path for r in seen) == [
        "/api/v1/namespaces/cirasa/resourcequotas",
        "/api/v1/nodes",
        "/api/v1/pods",
    ]
    assert all(r.headers["Authorization"] == "Bearer t0ken" and r.method == "GET" for r in seen)
    pods = next(r for r in seen if r.url.path == "/api/v1/pods")
    assert pods.url.params["fieldSelector"] == "status.phase!=Succeeded,status.phase!=Failed"


async def test_missing_namespace_is_platform_unavailable_with_the_api_answer() -> None:
    adapter = KubernetesAdapter(
        name="k8s", namespace="nope", work_pool="p", server="https://k8s.example", transport=recorded_api([])
    )
    with pytest.raises(PlatformUnavailableError, match=r"GET /api/v1/namespaces/nope/resourcequotas answered 404"):
        await adapter.snapshot(ResourceRequest())


def test_kubeconfig_current_context_gives_server_and_token(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: lab\n"
        "clusters:\n- name: c1\n  cluster: {server: 'https://10.0.0.1:6443/', insecure-skip-tls-verify: true}\n"
        "contexts:\n- name: lab\n  context: {cluster: c1, user: u1, namespace: cirasa}\n"
        "users:\n- name: u1\n  user: {token: abc}\n- name: u2\n  user: {exec: {command: aws}}\n"
    )
    access = load_kubeconfig(path)
    assert (access.server, access.token, access.verify) == ("https://10.0.0.1:6443", "abc", False)
    path.write_text(path.read_text().replace("user: u1", "user: u2"))
    with pytest.raises(ValueError, match="exec/auth-provider credentials are not supported"):
        load_kubeconfig(path)


def test_registry_builds_kubernetes_platforms() -> None:
    settings = BrokerSettings(
        config_file=None,
        prefect_api_url="http://127.0.0.1:9/api",
        platforms=[
            PlatformConfig(name="k8s", kind="kubernetes", namespace="cirasa", work_pool="cirasa-k8s", url="https://k")
        ],
    )
    (platform,) = build_adapters(settings)
    assert isinstance(platform, LaunchThroughPrefect)  # reads Kubernetes, runs work through its Prefect pool
    assert platform.launcher.work_pool == "cirasa-k8s"
    adapter = platform.adapter
    assert isinstance(adapter, KubernetesAdapter)
    assert adapter.namespace == "cirasa"
    with pytest.raises(ValueError, match="kind kubernetes needs namespace"):
        PlatformConfig(name="x", kind="kubernetes", work_pool="wp")


def kubeconfig_file() -> str | None:
    path = os.environ.get("KUBECONFIG")
    return path if path and Path(path).is_file() else None


@pytest.mark.kubernetes
async def test_real_cluster_namespace_snapshot() -> None:
    """Opt-in: KUBECONFIG must point at a reachable cluster (namespace: CIRASA_TEST_K8S_NAMESPACE, default)."""
    path = kubeconfig_file()
    if path is None:
        pytest.skip(f"Kubernetes not exercised: KUBECONFIG ({os.environ.get('KUBECONFIG', 'unset')}) is not a file")
    namespace = os.environ.get("CIRASA_TEST_K8S_NAMESPACE", "default")
    adapter = KubernetesAdapter(name="real", namespace=namespace, work_pool="cirasa-k8s", timeout_s=5)
    try:
        snapshot = await adapter.snapshot(ResourceRequest())
    except PlatformUnavailableError as exc:
        pytest.skip(f"Kubernetes not exercised: cluster of KUBECONFIG={path} not reachable: {exc.detail}")
    assert snapshot.facts["nodes_listed"] >= 1  # type: ignore[operator]
    assert snapshot.available == bool(snapshot.facts["nodes_usable"]), snapshot.unavailable_reasons
