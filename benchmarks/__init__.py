"""Benchmarks: plain scripts (``python -m benchmarks.<name>``); results in docs/performance.md."""
