"""caesar-rest's job manager for Prefect: caesar-rest jobs run as ``process-image`` flow runs.

caesar-rest (SKA-INAF) submits jobs through a job-manager object of its own kind (``jobmgr_slurm``, a
Slurm REST client); :class:`PrefectJobManager` keeps that contract, so it plugs in where caesar-rest
expects its Slurm manager, without editing caesar-rest:

- ``create_job`` reads caesar's command line (``--seedthr=4 --no-extendedsearch --inputfile=…``) back into
  caesar-rest options, ``submit_job`` creates a flow run of the ``process-image`` deployment (default
  ``process-image/cirasa-local``) with the image, the job directory as the output directory and those options,
  named after the caesar-rest job id (also its idempotency key, so a retried submit makes no second run). The
  flow asks the ExecutionBroker for offers, runs the extraction on the chosen platform and writes caesar's
  files into the job directory, where caesar-rest's routes and job monitor look for them;
- ``get_job_statuses`` reads the runs' states from the Prefect API and maps them to caesar-rest's
  (``SCHEDULED``/``PENDING``/``PAUSED`` → PENDING, ``RUNNING``/``CANCELLING`` → RUNNING, ``COMPLETED`` →
  SUCCESS, ``FAILED``/``CRASHED`` → FAILURE, ``CANCELLED`` → CANCELED), a failed run's message as the status;
- ``delete_job`` cancels the run (the flow cancels its broker session, which cancels the extraction).

An operator can give every job extraction settings of its own: ``CIRASA_CAESAR_PARAMS``, a JSON object of
process-image's ``params`` (e.g. ``{"seedpeakinterp": true, "bkgislandcorrection": true}``, this engine's
detection beyond caesar), goes with each flow run; a caesar-rest option a user sets still goes over it. Names
the deployment does not know make :meth:`PrefectJobManager.initialize` fail (caesar-rest then exits).

It runs caesar jobs only: a job of caesar-rest's other apps (Mask R-CNN, Aegean, CuTEx; told by the job image
caesar-rest passes, or by options caesar does not have) is refused at ``create_job`` (caesar-rest: HTTP 500).

To plug it in, call :func:`install_as_slurm_manager` before caesar-rest is imported (a ``sitecustomize.py`` on
caesar-rest's ``PYTHONPATH`` does it for ``apps/run_app.py`` and ``apps/run_jobmonitor.py``) and run both with
``--job_scheduler slurm``: caesar-rest then builds this manager where it builds its Slurm client.

Every call talks to the Prefect REST API over HTTP (httpx): no Prefect import in caesar-rest's process. A
Prefect API that cannot be reached makes ``get_job_statuses`` answer None (caesar-rest's monitor then leaves
the jobs as they are and asks again) and ``submit_job`` answer caesar's ``errors`` list (caesar-rest: HTTP 500
"Job failed to be submitted!").
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
import sys
import time
import types
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from planner.wire.caesar import app_schemas

__all__ = ["STATE_MAP", "PrefectJobManager", "app_of", "caesar_options", "install_as_slurm_manager"]

logger = logging.getLogger(__name__)

#: Prefect state types → caesar-rest (state, status when the run's state has no message).
STATE_MAP: dict[str, tuple[str, str]] = {
    "SCHEDULED": ("PENDING", "Job queued and waiting for initiation"),
    "PENDING": ("PENDING", "Job queued and waiting for initiation"),
    "PAUSED": ("PENDING", "Job was suspended"),
    "RUNNING": ("RUNNING", "Job executing"),
    "CANCELLING": ("RUNNING", "Job being canceled"),
    "COMPLETED": ("SUCCESS", "Job completed execution successfully"),
    "FAILED": ("FAILURE", "Job completed execution unsuccessfully"),
    "CRASHED": ("FAILURE", "Job crashed"),
    "CANCELLED": ("CANCELED", "Job was canceled by user"),
}
#: Answers of a busy Prefect server (its SQLite locked, a proxy in between) that are asked again, this many times.
RETRY_STATUSES = frozenset({408, 429, 502, 503})
RETRIES = 5

#: Exit codes by caesar-rest state (caesar-rest stores them; -1 while unknown, as it starts).
EXIT_CODES = {"SUCCESS": 0, "FAILURE": 1, "CANCELED": 130}

#: Arguments caesar-rest's caesar app adds to every command line: how caesar runs and saves, or the input
#: (given apart as ``inputfile``); the flow writes the catalogues, JSON and regions in any case.
IMPLIED = frozenset({"run", "inputfile", "save-summaryplot", "save-regions", "save-catalog-to-json"})


#: caesar-rest writes these enum options as caesar's numbers on the command line (its option transformers);
#: they go back to caesar-rest's names, which its schema (and the broker's check) knows.
CAESAR_CODES: dict[str, dict[str, str]] = {
    "regionwcs": {"0": "J2000", "1": "B1950", "2": "GALACTIC"},
    "bkgestimator": {"1": "Mean", "2": "Median", "3": "BiWeight", "4": "ClippedMedian"},
    "blobmaskmethod": {"1": "GausLaplacian", "2": "MultiScaleLoG"},
    "res-removedsourcetype": {"-1": "ALL", "1": "COMPACT", "2": "POINT-LIKE", "3": "EXTENDED"},
    "res-pssubtractionmethod": {"1": "DILATION", "2": "FITMODEL"},
    "smoothfilter": {"1": "GAUSSIAN", "2": "GUIDED"},
    "extsfinder": {"1": "WT-THRESH", "2": "SP-HIERCLUST", "3": "ACTIVE-CONTOUR", "4": "SALIENCY-THRESH"},
    "activecontour": {"1": "CHANVESE", "2": "LRAC"},
    "ac-levelset": {"1": "CIRCLE", "2": "CHECKERBOARD", "3": "SALIENCY"},
}


def caesar_options(job_args: str) -> dict[str, Any]:
    """caesar-rest options from caesar's command line: ``--name=value`` → ``{name: "value"}``, a bare flag
    ``--name`` → ``{name: True}`` (as caesar-rest's job inputs give it); the arguments every caesar-rest job carries are left out
    (:data:`IMPLIED`), caesar's enum numbers become caesar-rest's names (:data:`CAESAR_CODES`). Values stay
    strings: the broker types and checks them against caesar-rest's schema."""
    options: dict[str, Any] = {}
    for token in shlex.split(job_args or ""):
        if not token.startswith("-"):
            raise ValueError(f"unexpected argument {token!r} in caesar's command line (options are --name[=value])")
        name, sep, value = token.lstrip("-").partition("=")
        if name and name not in IMPLIED:
            options[name] = CAESAR_CODES.get(name, {}).get(value, value) if sep else True
    return options


class PrefectJobManager:
    """caesar-rest's Slurm-style job manager, running each job as a Prefect flow run (module docstring).

    caesar-rest creates it without arguments and sets connection attributes before :meth:`initialize`; the
    Prefect API comes from ``PREFECT_API_URL`` (or ``api_url``), the deployment from
    ``CIRASA_CAESAR_DEPLOYMENT`` (or ``deployment``). Of caesar-rest's Slurm attributes, ``max_cores`` caps the
    cores a job asks for and ``cluster_datadir`` / ``cluster_jobdir`` say where the workers see caesar-rest's
    ``app_datadir`` / ``app_jobdir`` (paths are moved over as caesar-rest's Slurm manager moves them); ``host``,
    ``port``, ``cluster_queue``, ``keyfile``, … are accepted and unused.
    """

    def __init__(
        self,
        api_url: str | None = None,
        deployment: str | None = None,
        timeout_s: float = 10.0,
        params: dict[str, Any] | None = None,
    ) -> None:
        self.api_url = (api_url or os.environ.get("PREFECT_API_URL", "http://127.0.0.1:4200/api")).rstrip("/")
        self.deployment = deployment or os.environ.get("CIRASA_CAESAR_DEPLOYMENT", "process-image/cirasa-local")
        self.timeout_s = timeout_s
        self.params, self._params_error = (dict(params), "") if params is not None else _env_params()
        self.max_cores = 4
        # caesar-rest's run_app.py / run_jobmonitor.py set these on its Slurm manager; kept for that contract.
        self.host, self.port, self.cluster_queue, self.keyfile, self.username = "", 0, "", "", ""
        self.cluster_batch_workdir = self.cluster_jobdir = self.cluster_datadir = ""
        self.app_jobdir = self.app_datadir = ""
        self._deployment_id: str | None = None
        self._known_params: frozenset[str] | None = None  # the deployment's ``params`` fields, when it says

    def __repr__(self) -> str:
        return f"PrefectJobManager(api_url={self.api_url!r}, deployment={self.deployment!r})"

    # ------------------------------------------------------------------ caesar-rest's calls
    def initialize(self) -> int:
        """0 when the Prefect API answers, the deployment exists and takes the operator's ``params``, else -1
        (caesar-rest then exits)."""
        try:
            if self._params_error:
                raise ValueError(self._params_error)
            self._deployment()
            if unknown := sorted(set(self.params) - (self._known_params or set(self.params))):
                raise ValueError(f"{PARAMS_ENV}: {self.deployment} has no extraction setting {', '.join(unknown)}")
        except (httpx.HTTPError, LookupError, ValueError) as exc:
            logger.error("caesar-rest job manager: %s", exc)
            return -1
        return 0

    def create_job(
        self,
        image: str = "",
        job_args: str = "",
        inputfile: str = "",
        job_name: str = "",
        job_outdir: str = "",
        job_run_opts: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """The flow run to create for a caesar-rest job (``image``, the app's job image, tells which app it is);
        None for another app's job, or a command line or folders that cannot be used (caesar-rest: HTTP 500)."""
        try:
            options = caesar_options(job_args)
        except ValueError as exc:
            logger.error("caesar-rest job %s: %s", job_name, exc)
            return None
        if (app := app_of(image, options)) != "caesar":
            logger.error("caesar-rest job %s: a %s job; this manager runs caesar's extraction only", job_name, app)
            return None
        if not inputfile or not job_outdir:
            logger.error("caesar-rest job %s: no input file or job directory", job_name)
            return None
        try:  # where the workers see caesar-rest's folders (its --slurm_datadir / --slurm_jobdir), as its Slurm manager
            inputfile = _on_cluster(inputfile, self.app_datadir, self.cluster_datadir)
            job_outdir = _on_cluster(job_outdir, self.app_jobdir, self.cluster_jobdir)
        except ValueError as exc:
            logger.error("caesar-rest job %s: %s", job_name, exc)
            return None
        cores = int((job_run_opts or {}).get("ncores", 1) or 1)
        cores = max(1, min(cores, int(self.max_cores or cores)))
        parameters = {
            "image": inputfile,
            "output_dir": job_outdir,
            "options": options,
            "resources": {"cores_min": 1, "cores_max": cores},
        }
        if self.params:
            parameters["params"] = dict(self.params)
        return {"name": job_name, "parameters": parameters}

    def submit_job(self, job: dict[str, Any]) -> dict[str, Any]:
        """``{"job_id": <flow run id>}``, or caesar's ``{"errors": [{"error": …}]}`` when Prefect refuses."""
        name = str(job.get("name", ""))
        body = {
            "name": f"caesar-rest-{name}",
            "parameters": job.get("parameters", {}),
            "tags": ["caesar-rest"],
            "idempotency_key": f"caesar-rest-{name}",
        }
        try:
            with self._client() as client:
                response = _post(client, f"/deployments/{self._deployment(client)}/create_flow_run", body)
                response.raise_for_status()
        except (httpx.HTTPError, LookupError) as exc:
            logger.error("caesar-rest job %s: flow run not created: %s", name, exc)
            return {"errors": [{"error": f"cannot create the flow run of {self.deployment}: {exc}"}]}
        return {"job_id": str(response.json()["id"]), "submit_date": datetime.now().isoformat()}

    def get_job_statuses(self, job_pids: list[str]) -> dict[str, dict[str, Any]] | None:
        """``{pid: {state, status, exit_code, elapsed_time}}`` of the runs that exist; None when Prefect cannot
        be asked (caesar-rest then leaves the jobs alone until the next round). A pid that is no flow run id (a job
        submitted to Slurm before this manager) is left out: caesar-rest then clears it if it was RUNNING."""
        if not job_pids:
            return None
        runs = [str(pid) for pid in job_pids if _is_uuid(str(pid))]  # others (a Slurm job's number) are not ours
        if not runs:
            return {}
        try:
            with self._client() as client:
                response = _post(client, "/flow_runs/filter", {"flow_runs": {"id": {"any_": runs}}, "limit": len(runs)})
                response.raise_for_status()
        except httpx.HTTPError as exc:
            logger.warning("caesar-rest job monitor: cannot read flow runs: %s", exc)
            return None
        return {str(run["id"]): job_status(run) for run in response.json()}

    def get_job_status(self, job_pid: str) -> dict[str, Any] | None:
        """One run's status (as :meth:`get_job_statuses`), None if unknown or unreachable."""
        statuses = self.get_job_statuses([job_pid]) or {}
        return statuses.get(str(job_pid))

    def delete_job(self, job_pid: str) -> int:
        """Cancel the run: 0 when Prefect took it (or it had already ended), -1 otherwise."""
        body = {"state": {"type": "CANCELLING", "name": "Cancelling", "message": "canceled through caesar-rest"}}
        try:
            with self._client() as client:
                response = _post(client, f"/flow_runs/{job_pid}/set_state", {**body, "force": False})
        except httpx.HTTPError as exc:
            logger.error("caesar-rest job %s: not canceled: %s", job_pid, exc)
            return -1
        if response.status_code >= 400:  # no such run (404), no run id (422), Prefect down (5xx)
            logger.error("caesar-rest job %s: not canceled: HTTP %d %s", job_pid, response.status_code, response.text)
            return -1
        # ACCEPT, or ABORT/REJECT for a run that already ended: nothing is running any more either way.
        return 0

    # ------------------------------------------------------------------ Prefect
    def _client(self) -> httpx.Client:
        return httpx.Client(base_url=self.api_url, timeout=self.timeout_s)

    def _deployment(self, client: httpx.Client | None = None) -> str:
        """The deployment's id (looked up once); LookupError if there is no such deployment."""
        if self._deployment_id is None:
            flow, _, name = self.deployment.partition("/")
            with contextlib.nullcontext(client) if client is not None else self._client() as http:
                response = _asked(http, "GET", f"/deployments/name/{flow}/{name}")
            if response.status_code == 404:
                raise LookupError(f"no Prefect deployment {self.deployment} at {self.api_url}")
            response.raise_for_status()
            found = response.json()
            self._deployment_id = str(found["id"])
            self._known_params = _params_fields(found.get("parameter_openapi_schema"))
        return self._deployment_id


#: caesar-rest's other apps, as its job images name them (``SLURM_MASKRCNN_JOB_IMAGE``: ``mrcnn-detect``, …).
OTHER_APPS = {"mrcnn": "mrcnn", "maskrcnn": "mrcnn", "aegean": "aegean", "cutex": "cutex"}


def app_of(image: str, options: dict[str, Any]) -> str:
    """The caesar-rest app of a job: caesar-rest passes only the app's job image (its config's
    ``SLURM_<APP>_JOB_IMAGE``) and command line. An image named after another app, or options caesar does
    not have, make it that other app (or ``"other"``); otherwise ``"caesar"``."""
    name = Path(image or "").name.lower()
    for key, app in OTHER_APPS.items():
        if key in name:
            return app
    if "caesar" in name:
        return "caesar"
    described = app_schemas()["caesar"]["describe"]
    return "caesar" if all(option in described for option in options) else "other"


def install_as_slurm_manager() -> None:
    """Make caesar-rest build a :class:`PrefectJobManager` as its Slurm job manager: its package imports
    ``SlurmJobManager`` from ``caesar_rest.slurm_client``, which this puts in place first (no caesar-rest file
    changes). Call it before caesar-rest is imported."""
    module = types.ModuleType("caesar_rest.slurm_client", "caesar-rest's Slurm client, replaced: jobs run on Prefect")
    vars(module)["SlurmJobManager"] = PrefectJobManager
    sys.modules["caesar_rest.slurm_client"] = module


def _on_cluster(path: str, app_dir: str, cluster_dir: str) -> str:
    """``path`` under caesar-rest's ``app_dir`` as the workers see it, under ``cluster_dir`` (unchanged when either
    is unset or they are the same); ValueError for a path outside ``app_dir``."""
    if not app_dir or not cluster_dir or app_dir == cluster_dir:
        return path
    if not path.startswith(app_dir):
        raise ValueError(f"{path} is not under caesar-rest's folder {app_dir}")
    return cluster_dir + path[len(app_dir) :]


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


#: An operator's extraction settings for every job (a JSON object of process-image's ``params``).
PARAMS_ENV = "CIRASA_CAESAR_PARAMS"


def _env_params() -> tuple[dict[str, Any], str]:
    """The settings :data:`PARAMS_ENV` gives, and what is wrong with them ("" when nothing)."""
    raw = os.environ.get(PARAMS_ENV, "").strip()
    if not raw:
        return {}, ""
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        return {}, f"{PARAMS_ENV} is not JSON ({exc})"
    if not isinstance(value, dict):
        return {}, f"{PARAMS_ENV} must be a JSON object of extraction settings, not {type(value).__name__}"
    return value, ""


def _params_fields(schema: Any) -> frozenset[str] | None:
    """The fields of a deployment's ``params`` parameter (its parameter schema's model), None when the schema
    does not say (then nothing is checked before a run is created)."""
    try:
        ref = schema["properties"]["params"]
        ref = ref.get("$ref") or ref["allOf"][0]["$ref"]
        model = ref.rsplit("/", 1)[-1]
        defs = schema.get("definitions") or schema.get("$defs")
        return frozenset(defs[model]["properties"])
    except (KeyError, IndexError, TypeError, AttributeError):
        return None


def _post(client: httpx.Client, path: str, body: dict[str, Any]) -> httpx.Response:
    """POST, asked again while Prefect answers busy (:func:`_asked`); creating a flow run twice is safe: its
    idempotency key returns the first."""
    return _asked(client, "POST", path, body)


def _asked(client: httpx.Client, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
    """A request, asked again (with a growing pause) while Prefect answers busy (:data:`RETRY_STATUSES`)."""
    for attempt in range(RETRIES):
        response = client.request(method, path, json=body)
        if response.status_code not in RETRY_STATUSES or attempt == RETRIES - 1:
            return response
        time.sleep(0.2 * 2**attempt)
    return response  # pragma: no cover - the loop always returns


def job_status(run: dict[str, Any]) -> dict[str, Any]:
    """caesar-rest's status of one flow run (``state``, ``status``, ``exit_code``, ``elapsed_time`` in seconds)."""
    state = run.get("state") or {}
    kind = str(state.get("type") or "PENDING")
    caesar_state, default_status = STATE_MAP.get(kind, ("UNKNOWN", f"Prefect state {kind}"))
    message = str(state.get("message") or "").strip()
    status = message if message and caesar_state in ("FAILURE", "CANCELED") else default_status
    elapsed = run.get("total_run_time") or 0.0
    return {
        "state": caesar_state,
        "status": status,
        "exit_code": EXIT_CODES.get(caesar_state, -1),
        "elapsed_time": round(float(elapsed), 1),
    }
