"""Shared fixtures: real services started once per test session (see tests/services/).

Prefect reads its settings when it is imported, so the test process is isolated here, before any
test module imports Prefect: a private PREFECT_HOME, no telemetry, and no ephemeral server (a
test that talks to Prefect without the `stack` fixture fails instead of starting one).
"""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="cirasa-tests-prefect-"))
os.environ["PREFECT_SERVER_EPHEMERAL_ENABLED"] = "false"
os.environ["DO_NOT_TRACK"] = "1"
os.environ.pop("PREFECT_API_URL", None)

from tests.services.browser import chromium
from tests.services.postgres import postgres_url
from tests.services.slurm import slurm
from tests.services.stack import stack

__all__ = ["chromium", "postgres_url", "slurm", "stack"]
