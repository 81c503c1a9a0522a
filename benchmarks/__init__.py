"""Benchmarks: bulkload against the API bound, the machine, and a naive baseline.

Run with ``python -m benchmarks.run --quick`` (under two minutes) or ``--full``.
pytest never asserts timings; the figures live in RESULTS.md.
"""
