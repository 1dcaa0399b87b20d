"""Run every benchmark; each writes its own section of the docs.

``python -m benchmarks.run`` (``make bench``). Add a module to BENCHMARKS to include it;
each module exposes ``main()``.
"""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = [
    "benchmarks.tools_eval",
]


def main() -> int:
    failed = []
    for name in BENCHMARKS:
        print(f"== {name}", flush=True)
        try:
            importlib.import_module(name).main()
        except Exception as exc:  # keep going: one broken benchmark must not hide the others
            print(f"{name} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            failed.append(name)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
