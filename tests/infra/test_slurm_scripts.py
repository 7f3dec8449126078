"""infra/slurm scripts: valid bash, and idempotent against the real local Slurm."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.services.slurm import SLURM_SCRIPTS, SlurmInfo

SCRIPTS = ["install.sh", "start.sh", "stop.sh", "status.sh"]
STATUS_LINE = re.compile(
    r"slurm: up \(node (?P<host>\S+) (?:idle|mixed|allocated|completing), (?P<cpus>\d+) CPUs, \d+ MB, "
    r"partitions debug\*,short, \d+ jobs\)"
)


@pytest.mark.parametrize("name", SCRIPTS)
def test_script_is_strict_valid_bash(name: str) -> None:
    path = SLURM_SCRIPTS / name
    assert os.access(path, os.X_OK)
    assert "\nset -euo pipefail\n" in path.read_text()
    subprocess.run(["bash", "-n", str(path)], check=True)


def run_script(name: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SLURM_SCRIPTS / name)], capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.slurm
def test_status_and_start_agree_and_start_is_idempotent(slurm: SlurmInfo) -> None:
    ctld_pid = Path("/var/spool/slurm/run/slurmctld.pid").read_text()
    status = run_script("status.sh")
    started = run_script("start.sh")
    assert (status.returncode, started.returncode) == (0, 0)
    match = STATUS_LINE.fullmatch(started.stdout.strip())
    assert match, started.stdout
    assert (match["host"], int(match["cpus"])) == (slurm.hostname, slurm.cpus)
    assert STATUS_LINE.fullmatch(status.stdout.strip())
    assert Path("/var/spool/slurm/run/slurmctld.pid").read_text() == ctld_pid  # not restarted


@pytest.mark.slurm
def test_node_advertises_configured_cpus(slurm: SlurmInfo) -> None:
    expected = int(os.environ.get("CIRASA_SLURM_CPUS") or max(os.cpu_count() or 1, 4))
    conf = Path("/etc/slurm/slurm.conf").read_text()
    assert f"NodeName={slurm.hostname} NodeAddr=127.0.0.1" in conf
    assert slurm.cpus == expected
    assert (slurm.partitions, slurm.default_partition) == (("debug", "short"), "debug")
