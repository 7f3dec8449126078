"""Benchmarks: run with `make bench`; each writes bench/results/<name>.json with machine info."""
