"""Benchmark: rendering a typical prompt template (target: < 1 ms per render).

Measures the median time of one ``render_template`` call for the built-in
``few-shot`` template (system prompt + three example turns + the query: four
body renders in the sandbox) and for ``zero-shot``, from an already loaded
template object and by name (which adds the lookup: config, plugin hook, file
stat). The baseline, measured in the same run, is plain ``jinja2`` rendering
the same texts the same number of times without the sandbox, variable checks or
message assembly, so the ratio is our overhead.

Run: ``python -m benchmarks.templates_render`` (results go to docs/performance.md).
"""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

REPEATS = 7  # batches; the median of the per-batch means is reported
CALLS = 300  # renders per batch
TARGET_MS = 1.0
SECTION = "## Template rendering"
DOC = Path(__file__).resolve().parent.parent / "docs" / "performance.md"
INPUT = "What is the capital of Spain? Please answer with the city name only, no explanation needed."


def median_ms(func: Callable[[], object]) -> float:
    func()  # warm caches (compilation, file stamps)
    batches = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        for _ in range(CALLS):
            func()
        batches.append((time.perf_counter() - start) / CALLS * 1000)
    return statistics.median(batches)


def plain_jinja_baseline(template_name: str) -> Callable[[], object]:
    """The same body/system texts rendered with a plain ``jinja2.Environment``, same count."""
    import jinja2

    from assistant.templates import load_template

    template = load_template(template_name)
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    body = env.from_string(template.body)
    system = env.from_string(template.system or "")
    examples = [{k: v for k, v in ex.items() if k != "output"} for ex in template.examples]

    def render() -> object:
        out = [system.render(input=INPUT)]
        out += [body.render(**ex) for ex in examples]
        out.append(body.render(input=INPUT))
        return out

    return render


def measure() -> dict[str, float]:
    from assistant.templates import load_template, render_template

    results: dict[str, float] = {}
    for name in ("few-shot", "zero-shot"):
        template = load_template(name)
        variables = {"task": "Answer the question."} if name == "zero-shot" else {}
        results[f"{name} (loaded template)"] = median_ms(lambda: render_template(template, variables, input=INPUT))
        results[f"{name} (by name)"] = median_ms(lambda: render_template(name, variables, input=INPUT))
        results[f"{name} baseline: plain jinja2"] = median_ms(plain_jinja_baseline(name))
    return results


def report(results: dict[str, float]) -> str:
    few = results["few-shot (loaded template)"]
    few_base = results["few-shot baseline: plain jinja2"]
    by_name = results["few-shot (by name)"]
    verdict = "meets" if max(few, by_name) < TARGET_MS else "MISSES"
    lines = [
        SECTION,
        "",
        f"`python -m benchmarks.templates_render` — median of {REPEATS} batches of {CALLS} renders;"
        f" Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPU(s) (shared).",
        "",
        "| render | ms per render |",
        "|---|---:|",
    ]
    lines += [f"| {label} | {value:.3f} |" for label, value in results.items()]
    lines += [
        "",
        f"The typical template (`few-shot`: system + 3 example turns + query) renders in {few:.3f} ms"
        f" ({by_name:.3f} ms when looked up by name), {few / few_base:.1f}× plain Jinja doing the same"
        f" renders unsandboxed; this {verdict} the < {TARGET_MS:g} ms target. The overhead is the"
        " sandbox's attribute checks, the variable checks, the size cap and building messages;"
        " lookup by name adds the config read, plugin hook and file stat (the parsed template is cached"
        " by modification time).",
        "",
    ]
    return "\n".join(lines)


def write_section(text: str, doc: Path = DOC) -> None:
    """Replace (or append) this benchmark's own section of docs/performance.md."""
    doc.parent.mkdir(parents=True, exist_ok=True)
    current = doc.read_text(encoding="utf-8") if doc.exists() else "# Performance\n"
    start = current.find(SECTION + "\n")
    if start == -1:
        updated = current.rstrip("\n") + "\n\n" + text
    else:
        end = current.find("\n## ", start + len(SECTION))
        updated = current[:start] + text + (current[end + 1 :] if end != -1 else "")
    doc.write_text(updated.rstrip("\n") + "\n", encoding="utf-8")


def main() -> None:
    with tempfile.TemporaryDirectory() as home:
        os.environ["ASSISTANT_HOME"] = home  # no user templates or config in the way
        from assistant.plugins import reset_plugins

        reset_plugins()
        results = measure()
    text = report(results)
    print(text)
    write_section(text)


if __name__ == "__main__":
    main()
