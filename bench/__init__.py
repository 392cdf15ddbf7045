"""Benchmarks: run from the repository root, e.g. `.venv/bin/python -m bench.jobs_throughput`.

They are not part of the test suite; see bench/README.md.
"""
