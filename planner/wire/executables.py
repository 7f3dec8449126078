"""Executables: Docker and Singularity containers, Jupyter notebooks, and our caesar job.

The concrete class is chosen from ``kind`` (any generation's spelling); an unknown kind is kept as
an :class:`AbstractExecutable` so the engine can answer NO with ``uri:unknown-type``.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Discriminator, Field, Tag

from planner.wire import kinds
from planner.wire.base import AbstractComponent, Kind, WireModel


class AbstractExecutable(AbstractComponent):
    """Any executable; fields of unknown kinds are kept as extra fields."""


class DockerImageSpec(WireModel):
    locations: list[str] = Field(default_factory=list)
    digest: str | None = None
    platform: dict[str, Any] | None = None


class DockerInternalPort(WireModel):
    port: int | None = None


class DockerExternalPort(WireModel):
    port: int | None = None
    addresses: list[str] = Field(default_factory=list)


class DockerNetworkPort(WireModel):
    access: bool | None = None
    internal: DockerInternalPort | None = None
    external: DockerExternalPort | None = None
    protocol: str | None = None
    path: str | None = None


class DockerNetworkSpec(WireModel):
    ports: list[DockerNetworkPort] = Field(default_factory=list)


class DockerContainer(AbstractExecutable):
    kind: Kind = kinds.DOCKER_CONTAINER
    image: DockerImageSpec | None = None
    privileged: bool | None = None
    command: list[str] = Field(default_factory=list)
    entrypoint: str | None = None
    environment: dict[str, str] = Field(default_factory=dict)
    network: DockerNetworkSpec | None = None


class SingularityContainer(AbstractExecutable):
    kind: Kind = kinds.SINGULARITY_CONTAINER
    location: str | None = None


class JupyterNotebook(AbstractExecutable):
    kind: Kind = kinds.JUPYTER_NOTEBOOK
    location: str | None = None


class CaesarJobExecutable(AbstractExecutable):
    """A caesar-rest style job: an app (``caesar``) with its options and input images.

    ``options`` are checked against the app's option schema (see :mod:`planner.wire.caesar`).
    ``flow`` names the Prefect flow that runs it; the chosen work pool completes the deployment
    name ``<flow>/<pool>``. ``output_dir`` may also be given as ``options["output_dir"]``.
    """

    kind: Kind = kinds.CAESAR_JOB
    app: str = "caesar"
    flow: str = "extract-image"
    options: dict[str, Any] = Field(default_factory=dict)
    inputs: list[str] = Field(default_factory=list)
    output_dir: str | None = None


_TAGS = {
    kinds.CAESAR_JOB: "caesar",
    kinds.DOCKER_CONTAINER: "docker",
    kinds.SINGULARITY_CONTAINER: "singularity",
    kinds.JUPYTER_NOTEBOOK: "jupyter",
}


def _executable_tag(value: Any) -> str:
    kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
    return _TAGS.get(kinds.normalise_kind(kind), "other") if isinstance(kind, str) else "other"


Executable = Annotated[
    Annotated[CaesarJobExecutable, Tag("caesar")]
    | Annotated[DockerContainer, Tag("docker")]
    | Annotated[SingularityContainer, Tag("singularity")]
    | Annotated[JupyterNotebook, Tag("jupyter")]
    | Annotated[AbstractExecutable, Tag("other")],
    Discriminator(_executable_tag),
]
