"""Accuracy of the sentiment and NER tools on the evaluation sets in tests/data/.

``python -m benchmarks.tools_eval [--models smollm2,gemma3-270m] [--backends llama-cpp]``

Runs the *registered* tools (exactly what ``assistant sentiment`` / ``assistant
ner`` run) for every model × backend pair, and reports:

* sentiment accuracy on the positive/negative texts (default labels), and on
  all texts with a third label ``neutral``; with and without calibration;
* NER entity-level precision / recall / F1 (exact span and type) with the
  default types, and with DATE added;
* time per input.

The table goes into docs/tools.md (between the ``tools-eval`` markers) and the
timings into docs/performance.md (section "Tools"). ``--no-write`` only prints.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
TOOLS_DOC = ROOT / "docs" / "tools.md"
START, END = "<!-- tools-eval:start -->", "<!-- tools-eval:end -->"
DEFAULT_TYPES = ("PERSON", "LOCATION", "ORGANIZATION")


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@dataclass
class Counts:
    """Entity-level counts: a prediction is right only with the exact span *and* type."""

    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0

    def add(self, gold: Iterable[tuple[int, int, str]], predicted: Iterable[tuple[int, int, str]]) -> None:
        gold_set, predicted_set = set(gold), set(predicted)
        self.true_positives += len(gold_set & predicted_set)
        self.false_positives += len(predicted_set - gold_set)
        self.false_negatives += len(gold_set - predicted_set)

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 0.0

    @property
    def recall(self) -> float:
        wanted = self.true_positives + self.false_negatives
        return self.true_positives / wanted if wanted else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class Row:
    model: str
    backend: str
    results: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    error: str = ""


def sentiment_accuracy(tool: Any, backend: Any, rows: list[dict[str, Any]], labels: list[str], calibrate: bool) -> tuple[float, float]:
    """(accuracy, seconds per text) over the rows whose gold label is in ``labels``."""
    wanted = [r for r in rows if r["label"] in labels]
    correct = 0
    start = time.perf_counter()
    for row in wanted:
        result = tool.run(row["text"], backend, labels=labels, calibrate=calibrate)
        correct += result.label == row["label"]
    elapsed = time.perf_counter() - start
    return correct / len(wanted), elapsed / len(wanted)


def ner_scores(tool: Any, backend: Any, rows: list[dict[str, Any]], types: Iterable[str]) -> tuple[Counts, float]:
    types = list(types)
    counts = Counts()
    start = time.perf_counter()
    for row in rows:
        result = tool.run(row["text"], backend, types=types)
        gold = [(e["start"], e["end"], e["type"]) for e in row["entities"] if e["type"] in types]
        counts.add(gold, [(e.start, e.end, e.type) for e in result.entities])
    return counts, (time.perf_counter() - start) / len(rows)


def local_backends() -> list[str]:
    """The local engines that are registered (the transformers backend is optional)."""
    from assistant.backends import available_backends

    return [name for name in ("llama-cpp", "transformers") if name in available_backends()]


def evaluate(model: str, backend_name: str, dataset: str, limit: int | None, options: dict[str, Any]) -> Row:
    from assistant import get_tool, load_backend

    row = Row(model, backend_name)
    try:
        backend = load_backend(backend_name, model, progress=lambda message: None, **options)
    except Exception as exc:  # a missing engine or model is reported, not fatal
        row.error = f"{type(exc).__name__}: {exc}"
        return row
    sentiment = get_tool("sentiment")
    ner = get_tool("ner")
    texts = load_jsonl(DATA / f"sentiment_{dataset}.jsonl")[:limit]
    sentences = load_jsonl(DATA / f"ner_{dataset}.jsonl")[:limit]
    try:
        two = ["positive", "negative"]
        three = ["positive", "negative", "neutral"]
        accuracy, per_text = sentiment_accuracy(sentiment, backend, texts, two, calibrate=False)
        row.results["sentiment pos/neg"] = f"{accuracy:.1%}"
        row.timings["sentiment, per text"] = per_text
        accuracy, _ = sentiment_accuracy(sentiment, backend, texts, two, calibrate=True)
        row.results["pos/neg calibrated"] = f"{accuracy:.1%}"
        accuracy, _ = sentiment_accuracy(sentiment, backend, texts, three, calibrate=False)
        row.results["+neutral"] = f"{accuracy:.1%}"
        accuracy, _ = sentiment_accuracy(sentiment, backend, texts, three, calibrate=True)
        row.results["+neutral calibrated"] = f"{accuracy:.1%}"
        counts, per_sentence = ner_scores(ner, backend, sentences, DEFAULT_TYPES)
        row.results["NER P / R / F1"] = f"{counts.precision:.2f} / {counts.recall:.2f} / **{counts.f1:.2f}**"
        row.timings["NER, per sentence"] = per_sentence
        counts, _ = ner_scores(ner, backend, sentences, (*DEFAULT_TYPES, "DATE"))
        row.results["NER +DATE F1"] = f"{counts.f1:.2f}"
        counts, _ = ner_scores(ner, backend, sentences, ("PERSON",))
        row.results["NER PERSON only F1"] = f"{counts.f1:.2f}"
    finally:
        backend.unload()
    return row


def markdown_table(rows: list[Row]) -> str:
    columns = ["model", "backend"]
    for row in rows:
        columns += [c for c in row.results if c not in columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        if row.error:
            cells = [row.model, row.backend, f"not run: {row.error}"] + [""] * (len(columns) - 3)
        else:
            cells = [row.model, row.backend] + [row.results.get(c, "") for c in columns[2:]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_tools_doc(table: str, counts: str) -> None:
    block = f"{START}\n{counts}\n\n{table}\n{END}"
    text = TOOLS_DOC.read_text(encoding="utf-8") if TOOLS_DOC.exists() else f"# Tools\n\n{START}\n{END}\n"
    if START in text and END in text:
        text = re.sub(re.escape(START) + r".*?" + re.escape(END), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    TOOLS_DOC.write_text(text, encoding="utf-8")


def write_performance_section(rows: list[Row]) -> None:
    from benchmarks._report import machine, write_section

    lines = [
        "Time per input in the accuracy run of `benchmarks/tools_eval.py` (the few-shot prefix is",
        "reused from the KV cache across inputs; one prompt evaluation per text, and per candidate span).",
        f"Machine: {machine()}; shared with other jobs, so indicative only.",
        "",
        "| model | backend | sentiment, ms per text | NER, ms per sentence |",
        "|---|---|---|---|",
    ]
    for row in rows:
        if row.error:
            continue
        lines.append(
            f"| {row.model} | {row.backend} | {row.timings['sentiment, per text'] * 1000:.0f} "
            f"| {row.timings['NER, per sentence'] * 1000:.0f} |"
        )
    write_section("Tools", "\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    """``argv`` defaults to no arguments (benchmarks.run calls ``main()``); the script passes its own."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="smollm2,gemma3-270m")
    parser.add_argument("--backends", default=None, help="default: every local backend registered")
    parser.add_argument("--set", dest="dataset", default="eval", choices=("eval", "dev"))
    parser.add_argument("--limit", type=int, default=None, help="only the first N texts and sentences")
    parser.add_argument("--n-threads", type=int, default=0)
    parser.add_argument("--no-write", action="store_true", help="print only; leave the docs alone")
    args = parser.parse_args(argv or [])
    options: dict[str, Any] = {"n_ctx": 2048}
    if args.n_threads:
        options["n_threads"] = args.n_threads
    rows = []
    for model in args.models.split(","):
        for backend in (args.backends.split(",") if args.backends else local_backends()):
            print(f"evaluating {model} on {backend} ...", flush=True)
            row = evaluate(model.strip(), backend.strip(), args.dataset, args.limit, dict(options))
            print(row, flush=True)
            rows.append(row)
    texts = load_jsonl(DATA / f"sentiment_{args.dataset}.jsonl")[: args.limit]
    sentences = load_jsonl(DATA / f"ner_{args.dataset}.jsonl")[: args.limit]
    polar = sum(1 for t in texts if t["label"] != "neutral")
    entities = sum(1 for s in sentences for e in s["entities"] if e["type"] in DEFAULT_TYPES)
    counts = (
        f"Set `{args.dataset}`: {polar} positive/negative texts + {len(texts) - polar} neutral; "
        f"{len(sentences)} sentences with {entities} PERSON/LOCATION/ORGANIZATION entities "
        f"({sum(len(s['entities']) for s in sentences)} with DATE and MISC). "
        f"Backend option n_ctx={options['n_ctx']}. Generated by `python -m benchmarks.tools_eval`."
    )
    table = markdown_table(rows)
    print(counts + "\n\n" + table)
    if not args.no_write and args.dataset == "eval" and args.limit is None:
        write_tools_doc(table, counts)
        write_performance_section(rows)


if __name__ == "__main__":
    main(sys.argv[1:])
