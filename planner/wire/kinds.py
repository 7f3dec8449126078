"""``kind`` URIs of both schema generations, normalised to the current (v1.0.7, "P7") spelling.

A tolerant reader: v1.0.5 (``…/EB/schema/v1.0/types/<group>/<stem>-1.0``), v1.0.7
(``…/Calycopis-openapi/schema/v1.0/kinds/<group>/<stem>.yaml``) and the prototype's ``computer/``
group are all read; only the v1.0.7 spelling is written.
"""

from __future__ import annotations

import re

P5 = "https://www.purl.org/ivoa.net/EB/schema/v1.0/types/"
P7 = "https://www.purl.org/ivoa.net/Calycopis-openapi/schema/v1.0/kinds/"

# Our own executable kind: a caesar-rest style job (app name + options + input images).
CAESAR_JOB = "urn:cirasa:executable:caesar-job"


def p7(group_stem: str) -> str:
    """The current URI for ``<group>/<stem>``."""
    return f"{P7}{group_stem}.yaml"


DOCKER_CONTAINER = p7("executable/docker-container")
SINGULARITY_CONTAINER = p7("executable/singularity-container")
JUPYTER_NOTEBOOK = p7("executable/jupyter-notebook")
SIMPLE_COMPUTE = p7("compute/simple-compute-resource")
SIMPLE_DATA = p7("data/simple-data-resource")
SIMPLE_STORAGE = p7("storage/simple-storage-resource")
SIMPLE_VOLUME = p7("volume/simple-volume-mount")
SIMPLE_SESSION = p7("session/simple-execution-session")
SCHEDULED_SESSION = p7("session/scheduled-execution-session")
OFFER_SET = p7("offerset/execution-offerset")
SIMPLE_COST = p7("costs/simple-minmax-float-cost")
SIMPLE_METRIC = p7("metrics/simple-minmax-float-metric")
COST_TYPES = ("urn:ivoa:calycopis:cost:monetary", "urn:ivoa:calycopis:cost:energy", "urn:ivoa:calycopis:cost:carbon")
METRIC_TYPES = ("urn:ivoa:calycopis:metric:compute-performance", "urn:ivoa:calycopis:metric:io-throughput")

_P5_RE = re.compile(re.escape(P5) + r"(?P<group>[A-Za-z]+)/(?P<stem>[A-Za-z0-9-]+?)-1\.0$")
_P7_RE = re.compile(re.escape(P7) + r"(?P<group>[A-Za-z]+)/(?P<stem>[A-Za-z0-9-]+)\.yaml$")


def normalise_kind(kind: str) -> str:
    """Return the v1.0.7 spelling of any known ``kind``; other strings come back unchanged.

    >>> normalise_kind(P5 + "computer/simple-compute-resource-1.0") == SIMPLE_COMPUTE
    True
    """
    for pattern in (_P5_RE, _P7_RE):
        match = pattern.match(kind.strip())
        if match:
            group = match["group"]
            if group == "computer":
                group = "compute"
            return p7(f"{group}/{match['stem']}")
    return kind.strip()


# A session's connector to the Prefect flow run that does its work (location ends in the run id).
RUN_CONNECTOR = "urn:cirasa:connector:prefect-flow-run"
