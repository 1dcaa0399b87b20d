"""Benchmarks: each module has ``main()`` and writes its section of docs/performance.md."""
