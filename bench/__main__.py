"""`python -m bench [NAME ...]`: run the benchmarks (all by default); each writes bench/results/."""

from __future__ import annotations

import importlib
import json
import sys

BENCHMARKS = ("broker", "planner", "demo", "survey", "extraction", "seeds", "classification")

if __name__ == "__main__":
    chosen = sys.argv[1:] or list(BENCHMARKS)
    unknown = sorted(set(chosen) - set(BENCHMARKS))
    if unknown:
        sys.exit(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}")
    for name in chosen:
        print(f"== bench {name}", flush=True)
        document = importlib.import_module(f"bench.{name}").main()
        if isinstance(document, dict):
            print(json.dumps({"benchmark": name, "results": document.get("results")}, indent=2, default=str))
