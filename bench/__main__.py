"""`python -m bench`: run every benchmark and print where the results went."""

from __future__ import annotations

import json

from bench import broker, demo, planner, survey

if __name__ == "__main__":
    for module in (broker, planner, demo, survey):
        document = module.main()
        print(json.dumps({"benchmark": document["benchmark"], "results": document["results"]}, indent=2))
