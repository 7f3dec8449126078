"""Wall time of `cirasa demo` from stopped services (Slurm installed), as `make demo` runs it.

Uses a private CIRASA_HOME and free ports so it never touches the developer's own services.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.machine import machine_info
from cirasa.services import free_port

RESULTS = Path(__file__).resolve().parent / "results"
CIRASA = str(Path(sys.executable).parent / "cirasa")


def main(runs: int = 2) -> dict[str, Any]:
    timings: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as home:
        env = {
            **os.environ,
            "CIRASA_HOME": home,
            "CIRASA_PREFECT_PORT": str(free_port()),
            "CIRASA_BROKER_PORT": str(free_port()),
        }
        for run in range(runs):
            start = time.perf_counter()
            result = subprocess.run([CIRASA, "demo"], env=env, capture_output=True, text=True)
            wall = time.perf_counter() - start
            lines = result.stdout.splitlines()
            timings.append(
                {
                    "run": run,
                    "cold_services": run == 0,
                    "wall_s": round(wall, 1),
                    "exit_code": result.returncode,
                    "chosen": next((line.strip() for line in lines if line.startswith("chosen:")), ""),
                    "completeness": next((line.strip() for line in lines if line.startswith("completeness")), ""),
                }
            )
        subprocess.run([CIRASA, "server", "down"], env=env, capture_output=True)
    document = {
        "benchmark": "demo",
        "goal": {"wall_s_max": 180},
        "results": timings,
        "machine": machine_info(),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "demo.json").write_text(json.dumps(document, indent=2) + "\n")
    return document


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
