"""Kubernetes Dask clusters: the DaskCluster manifest built from a cluster spec, validated offline
against the operator's CRD schema; a real cluster only when KUBECONFIG points at one (opt-in)."""

from __future__ import annotations

import copy
import os

import pytest

from flows.clusters import ClusterSpec
from flows.kubernetes import ManifestError, build_dask_cluster_manifest, validate_dask_cluster

SPEC = ClusterSpec(
    kind="kubernetes",
    workers=3,
    cores_per_worker=2,
    memory_gib_per_worker=1.5,
    image="cirasa-worker:1",
    namespace="astro",
)


def test_manifest_carries_the_offer_resources() -> None:
    manifest = build_dask_cluster_manifest(SPEC, "survey-42")
    assert manifest["metadata"] == {"name": "survey-42", "namespace": "astro"}
    worker = manifest["spec"]["worker"]
    assert worker["replicas"] == 3
    container = worker["spec"]["containers"][0]
    assert container["image"] == "cirasa-worker:1"
    assert container["resources"] == {
        "requests": {"cpu": "2", "memory": "1536Mi"},
        "limits": {"cpu": "2", "memory": "1536Mi"},
    }
    assert container["args"][:3] == ["dask-worker", "--nthreads", "2"]
    assert "env" not in container  # nulls are pruned, as the API server would


def test_malformed_manifest_is_rejected_offline() -> None:
    manifest = copy.deepcopy(build_dask_cluster_manifest(SPEC, "x"))
    manifest["spec"]["worker"]["replicas"] = "two"
    with pytest.raises(ManifestError, match=r"spec\.worker\.replicas: 'two' is not of type 'integer'"):
        validate_dask_cluster(manifest)


def test_kubernetes_spec_needs_image_and_namespace() -> None:
    with pytest.raises(ValueError, match="needs an image and a namespace"):
        ClusterSpec(kind="kubernetes", image="x")


@pytest.mark.kubernetes
def test_real_cluster_runs_work() -> None:
    if not os.environ.get("KUBECONFIG"):
        pytest.skip("Kubernetes not exercised: set KUBECONFIG to a reachable cluster to run this test")
    from flows.clusters import open_cluster

    spec = SPEC.model_copy(update={"workers": 1, "namespace": os.environ.get("CIRASA_K8S_NAMESPACE", "default")})
    with open_cluster(spec) as client:
        assert client.submit(sum, [1, 2, 3]).result(timeout=300) == 6
