"""Dask clusters on Kubernetes through the dask-kubernetes operator.

The ``DaskCluster`` manifest is built from the cluster spec (so from the accepted offer) by a pure
function and validated offline against the operator's CRD schema shipped in dask-kubernetes: a
malformed manifest fails here, before any cluster exists. Starting one needs a kubeconfig.
"""

from __future__ import annotations

import math
from functools import cache
from importlib.resources import files
from typing import Any

import jsonschema
import yaml

from flows.clusters import ClusterSpec

CRD = ("dask_kubernetes", "operator/deployment/helm/dask-kubernetes-operator/crds/daskcluster.yaml")


class ManifestError(ValueError):
    """A generated manifest does not satisfy the operator's schema."""


def _prune(value: Any) -> Any:
    """Drop ``None`` values, as the API server does, so that schema checks see what it would store."""
    if isinstance(value, dict):
        return {k: _prune(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def kubernetes_resources(spec: ClusterSpec) -> dict[str, dict[str, str]]:
    """Requests = limits: the offer's cores and memory per worker (memory in whole MiB)."""
    memory = f"{math.ceil(spec.memory_gib_per_worker * 1024)}Mi"
    cores = str(spec.cores_per_worker)
    return {"requests": {"cpu": cores, "memory": memory}, "limits": {"cpu": cores, "memory": memory}}


def build_dask_cluster_manifest(spec: ClusterSpec, name: str) -> dict[str, Any]:
    """The ``DaskCluster`` resource for ``spec`` (kind ``kubernetes``), validated against the CRD."""
    from dask_kubernetes.operator import make_cluster_spec

    if spec.kind != "kubernetes" or spec.image is None:
        raise ValueError(f"build_dask_cluster_manifest needs a kubernetes spec with an image, got {spec.kind!r}")
    manifest = make_cluster_spec(
        name=name,
        image=spec.image,
        n_workers=spec.workers,
        resources=kubernetes_resources(spec),
        env=dict(sorted(spec.env.items())) or None,
        worker_command=["dask-worker", "--nthreads", str(spec.cores_per_worker)],
    )
    manifest = dict(_prune(manifest))
    manifest.setdefault("metadata", {})["namespace"] = spec.namespace
    validate_dask_cluster(manifest)
    return manifest


@cache
def dask_cluster_schema() -> dict[str, Any]:
    """The served version's openAPIV3Schema from the CRD in the installed dask-kubernetes."""
    package, path = CRD
    crd = yaml.safe_load(files(package).joinpath(path).read_text())
    version = next(v for v in crd["spec"]["versions"] if v.get("served"))
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def validate_dask_cluster(manifest: dict[str, Any]) -> None:
    """Raise :class:`ManifestError` naming the first invalid field."""
    if manifest.get("apiVersion") != "kubernetes.dask.org/v1" or manifest.get("kind") != "DaskCluster":
        raise ManifestError("not a kubernetes.dask.org/v1 DaskCluster")
    try:
        jsonschema.validate(manifest, dask_cluster_schema())
    except jsonschema.ValidationError as exc:
        where = ".".join(str(p) for p in exc.absolute_path) or "(root)"
        raise ManifestError(f"DaskCluster invalid at {where}: {exc.message}") from exc


def open_kube_cluster(spec: ClusterSpec) -> Any:
    """Create the cluster in the namespace of ``spec`` (needs a reachable cluster and kubeconfig)."""
    from dask_kubernetes.operator import KubeCluster

    manifest = build_dask_cluster_manifest(spec, name="cirasa-dask")
    return KubeCluster(custom_cluster_spec=manifest, namespace=spec.namespace, shutdown_on_close=True)
