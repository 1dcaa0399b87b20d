"""Accuracy of the sentiment and NER tools: public corpora (SST-2, CoNLL-2003) and the project's own sets.

``python -m benchmarks.tools_eval [--models smollm2,gemma3-270m] [--sets sst2,conll,own] [--limit N]``

Runs the *registered* tools (exactly what ``assistant sentiment`` / ``assistant
ner`` run) for every model × backend pair, and reports:

* public sets (``benchmarks/data/``, real human-labelled data nobody here
  wrote): SST-2 accuracy; CoNLL-2003 entity P / R / F1 typed (exact span and
  type) and span-only, F1 per type and a confusion table, for
  PERSON/LOCATION/ORGANIZATION; seconds and prompt evaluations per item;
* own sets (``tests/data/``): sentiment with and without calibration and a
  third label ``neutral``; NER with the default types, with DATE, PERSON only.

``--limit N`` takes the first N rows of every set (fast iteration on a slice);
``--half even|odd`` the even or odd rows of the public sets (a change should hold on both);
``--sentiment-params``/``--ner-params k=v,...`` pass tool parameters, to compare
methods. ``--errors`` prints each SST-2 phrase the sentiment tool got wrong, with its
label probabilities (what to read before choosing a method). Only a full run with default
parameters rewrites docs/tools.md (between the ``tools-public`` and ``tools-eval`` markers)
and docs/performance.md (section "Tools"); ``--no-write`` only prints.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping, Sequence

from benchmarks.tools_metrics import (
    OWN_DATA,
    PUBLIC_DATA,
    ROOT,
    SCORED_TYPES,
    NerReport,
    conll_rows,
    load_jsonl,
)

TOOLS_DOC = ROOT / "docs" / "tools.md"
MARKERS = {
    "own": ("<!-- tools-eval:start -->", "<!-- tools-eval:end -->"),
    "public": ("<!-- tools-public:start -->", "<!-- tools-public:end -->"),
}
DEFAULT_TYPES = SCORED_TYPES
SETS = ("sst2", "conll", "own")


class CountingBackend:
    """A backend seen through a counter of prompt evaluations (``score``, ``complete`` and ``stream`` calls).

    Every other attribute is the backend's own, so the tools behave exactly as
    with the bare backend; the count is the cost measure that does not depend on
    how busy the machine is.
    """

    def __init__(self, backend: Any) -> None:
        self._backend = backend
        self.evaluations = 0

    def score(self, prompt: str, candidates: Sequence[str]) -> list[float]:
        self.evaluations += 1
        return self._backend.score(prompt, candidates)  # type: ignore[no-any-return]

    def complete(self, prompt: Any, params: Any) -> Any:
        self.evaluations += 1
        return self._backend.complete(prompt, params)

    def stream(self, prompt: Any, params: Any) -> Iterator[Any]:
        self.evaluations += 1
        return self._backend.stream(prompt, params)  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)


@dataclass
class Cost:
    """Seconds and prompt evaluations per item."""

    seconds: float = 0.0
    evaluations: float = 0.0

    def __str__(self) -> str:
        return f"{self.seconds:.3f} s · {self.evaluations:.1f}"


@dataclass
class Row:
    model: str
    backend: str
    results: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    confusion: str = ""
    error: str = ""
    mistakes: list[str] = field(default_factory=list, repr=False)
    """SST-2 phrases the tool got wrong, one line each (``--errors``)."""


def parse_params(text: str) -> dict[str, Any]:
    """``"k=v,k2=v2"`` -> a dict (values as strings; the tool coerces them). ``;`` separates list items."""
    params: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, _, value = item.partition("=")
        params[key.strip()] = value.strip().replace(";", ",")
    return params


def mistake_line(text: str, gold: str, probabilities: Mapping[str, float]) -> str:
    """One misclassified text for ``--errors``: gold label, the tool's probabilities, the text.

    Printed as data (:func:`~assistant.terminal_text.visible_text`): a data file's text
    reaches the terminal. The probabilities show how far off the tool was — a phrase lost
    at 0.49 asks for a different method than one lost at 0.05 — which is what to read
    before choosing a method (docs/tools.md, "What each method gave").
    """
    from assistant.terminal_text import visible_text

    shown = " ".join(f"{label} {p:.2f}" for label, p in probabilities.items())
    return visible_text(f"gold {gold} | {shown} | {' '.join(text.split())}")


def sentiment_accuracy(
    tool: Any, backend: Any, rows: list[dict[str, Any]], labels: list[str],
    mistakes: list[str] | None = None, **params: Any,
) -> tuple[float, Cost]:
    """(accuracy, cost per text) over the rows whose gold label is in ``labels``.

    ``mistakes``, when given, receives a :func:`mistake_line` for every row the tool got wrong.
    """
    counting = CountingBackend(backend)
    wanted = [r for r in rows if r["label"] in labels]
    correct = 0
    start = time.perf_counter()
    for row in wanted:
        result = tool.run(row["text"], counting, labels=labels, **params)
        correct += result.label == row["label"]
        if mistakes is not None and result.label != row["label"]:
            mistakes.append(mistake_line(row["text"], row["label"], result.probabilities))
    elapsed = time.perf_counter() - start
    return correct / len(wanted), Cost(elapsed / len(wanted), counting.evaluations / len(wanted))


def ner_report(
    tool: Any, backend: Any, rows: list[dict[str, Any]], types: Iterable[str], **params: Any
) -> tuple[NerReport, Cost]:
    """Entity scores over ``rows`` (scored on ``types``), and the cost per sentence."""
    types = tuple(types)
    counting = CountingBackend(backend)
    report = NerReport(types=types)
    start = time.perf_counter()
    for row in rows:
        result = tool.run(row["text"], counting, types=list(types), **params)
        gold = [(e["start"], e["end"], e["type"]) for e in row["entities"]]
        report.add(gold, [(e.start, e.end, e.type) for e in result.entities])
    elapsed = time.perf_counter() - start
    return report, Cost(elapsed / len(rows), counting.evaluations / len(rows))


def public_slice(rows: list[Any], limit: int | None, half: str = "all") -> list[Any]:
    """The rows of a public set in use: every row, or the even or odd ones (0-based), then the first ``limit``.

    Halves, because a difference found on one slice of a 300–500-row set is often
    noise: a method is kept when it wins on both (docs/tools.md).
    """
    if half not in ("all", "even", "odd"):
        raise ValueError(f"half must be all, even or odd, not {half!r}")
    chosen = rows if half == "all" else rows[half == "odd" :: 2]
    return chosen[:limit]


def local_backends() -> list[str]:
    """The local engines that are registered (the transformers backend is optional)."""
    from assistant.backends import available_backends

    return [name for name in ("llama-cpp", "transformers") if name in available_backends()]


def public_results(
    row: Row, backend: Any, sets: Sequence[str], limit: int | None,
    sentiment_params: Mapping[str, Any], ner_params: Mapping[str, Any], half: str = "all",
) -> None:
    from assistant import get_tool

    if "sst2" in sets:
        texts = public_slice(load_jsonl(PUBLIC_DATA / "sst2-dev.jsonl"), limit, half)
        accuracy, cost = sentiment_accuracy(
            get_tool("sentiment"), backend, texts, ["positive", "negative"], row.mistakes, **sentiment_params
        )
        row.results["SST-2 accuracy"] = f"**{accuracy:.1%}**"
        row.results["SST-2 s · evals / text"] = str(cost)
        row.timings["SST-2, per text"] = cost.seconds
    if "conll" in sets:
        sentences = public_slice(conll_rows(), limit, half)
        report, cost = ner_report(get_tool("ner"), backend, sentences, DEFAULT_TYPES, **ner_params)
        row.results["CoNLL typed P / R / F1"] = report.typed.summary()
        row.results["CoNLL span-only F1"] = f"{report.spans.f1:.2f}"
        row.results["CoNLL F1 per type"] = report.per_type_summary()
        row.results["CoNLL s · evals / sentence"] = str(cost)
        row.timings["CoNLL, per sentence"] = cost.seconds
        row.confusion = report.confusion_table()


def own_results(row: Row, backend: Any, dataset: str, limit: int | None) -> None:
    from assistant import get_tool

    sentiment = get_tool("sentiment")
    ner = get_tool("ner")
    texts = load_jsonl(OWN_DATA / f"sentiment_{dataset}.jsonl")[:limit]
    sentences = load_jsonl(OWN_DATA / f"ner_{dataset}.jsonl")[:limit]
    two = ["positive", "negative"]
    three = ["positive", "negative", "neutral"]
    accuracy, cost = sentiment_accuracy(sentiment, backend, texts, two)
    row.results["sentiment pos/neg"] = f"{accuracy:.1%}"
    row.timings["sentiment, per text"] = cost.seconds
    accuracy, _ = sentiment_accuracy(sentiment, backend, texts, two, calibrate=True)
    row.results["pos/neg calibrated"] = f"{accuracy:.1%}"
    accuracy, _ = sentiment_accuracy(sentiment, backend, texts, three)
    row.results["+neutral"] = f"{accuracy:.1%}"
    accuracy, _ = sentiment_accuracy(sentiment, backend, texts, three, calibrate=True)
    row.results["+neutral calibrated"] = f"{accuracy:.1%}"
    report, cost = ner_report(ner, backend, sentences, DEFAULT_TYPES)
    row.results["NER P / R / F1"] = report.typed.summary()
    row.timings["NER, per sentence"] = cost.seconds
    report, _ = ner_report(ner, backend, sentences, (*DEFAULT_TYPES, "DATE"))
    row.results["NER +DATE F1"] = f"{report.typed.f1:.2f}"
    report, _ = ner_report(ner, backend, sentences, ("PERSON",))
    row.results["NER PERSON only F1"] = f"{report.typed.f1:.2f}"


def evaluate(
    model: str, backend_name: str, sets: Sequence[str], dataset: str, limit: int | None,
    options: dict[str, Any], sentiment_params: Mapping[str, Any], ner_params: Mapping[str, Any],
    half: str = "all",
) -> tuple[Row, Row]:
    """(public-set row, own-set row) for one model on one backend; a failure to load is reported, not fatal."""
    from assistant import load_backend

    public, own = Row(model, backend_name), Row(model, backend_name)
    try:
        backend = load_backend(backend_name, model, progress=lambda message: None, **options)
    except Exception as exc:  # a missing engine or model is reported, not fatal
        public.error = own.error = f"{type(exc).__name__}: {exc}"
        return public, own
    try:
        public_results(public, backend, sets, limit, sentiment_params, ner_params, half)
        if "own" in sets:
            own_results(own, backend, dataset, limit)
    finally:
        backend.unload()
    return public, own


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


def public_counts(limit: int | None, half: str = "all") -> str:
    texts = public_slice(load_jsonl(PUBLIC_DATA / "sst2-dev.jsonl"), limit, half)
    sentences = public_slice(conll_rows(), limit, half)
    scored = sum(1 for s in sentences for e in s["entities"] if e["type"] in DEFAULT_TYPES)
    return (
        f"{'' if half == 'all' else f'The {half} rows only. '}SST-2: {len(texts)} phrases. CoNLL-2003: {len(sentences)} sentences, {scored} "
        "PERSON/LOCATION/ORGANIZATION entities (MISC not scored). Cost columns: seconds · prompt "
        "evaluations per item. Generated by `python -m benchmarks.tools_eval`."
    )


def own_counts(dataset: str, limit: int | None) -> str:
    texts = load_jsonl(OWN_DATA / f"sentiment_{dataset}.jsonl")[:limit]
    sentences = load_jsonl(OWN_DATA / f"ner_{dataset}.jsonl")[:limit]
    polar = sum(1 for t in texts if t["label"] != "neutral")
    entities = sum(1 for s in sentences for e in s["entities"] if e["type"] in DEFAULT_TYPES)
    return (
        f"Set `{dataset}`: {polar} positive/negative texts + {len(texts) - polar} neutral; "
        f"{len(sentences)} sentences with {entities} PERSON/LOCATION/ORGANIZATION entities "
        f"({sum(len(s['entities']) for s in sentences)} with DATE and MISC). "
        "Backend option n_ctx=2048. Generated by `python -m benchmarks.tools_eval`."
    )


def confusion_blocks(rows: list[Row]) -> str:
    return "\n\n".join(
        f"CoNLL-2003 confusion, {row.model} ({row.backend}):\n\n{row.confusion}" for row in rows if row.confusion
    )


def write_tools_doc(which: str, body: str) -> None:
    import re

    start, end = MARKERS[which]
    block = f"{start}\n{body}\n{end}"
    text = TOOLS_DOC.read_text(encoding="utf-8") if TOOLS_DOC.exists() else "# Tools\n"
    if start in text and end in text:
        text = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: block, text, flags=re.DOTALL)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    TOOLS_DOC.write_text(text, encoding="utf-8")


def write_performance_section(public: list[Row], own: list[Row]) -> None:
    from benchmarks._report import machine, write_section

    lines = [
        "Time per input in the accuracy run of `benchmarks/tools_eval.py` (the few-shot prefix is",
        "reused from the KV cache across inputs where the prompt allows it). Prompt evaluations per",
        "item are in docs/tools.md. Machine: " + machine() + "; shared with other jobs, so indicative only.",
        "",
        "| model | backend | SST-2, ms per text | CoNLL-2003, ms per sentence | own sentiment, ms per text | own NER, ms per sentence |",
        "|---|---|---|---|---|---|",
    ]
    for p, o in zip(public, own):
        if p.error:
            continue
        cells = [
            p.timings.get("SST-2, per text"), p.timings.get("CoNLL, per sentence"),
            o.timings.get("sentiment, per text"), o.timings.get("NER, per sentence"),
        ]
        shown = " | ".join(f"{c * 1000:.0f}" if c is not None else "" for c in cells)
        lines.append(f"| {p.model} | {p.backend} | {shown} |")
    write_section("Tools", "\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    """``argv`` defaults to no arguments (benchmarks.run calls ``main()``); the script passes its own."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--models", default="smollm2,gemma3-270m")
    parser.add_argument("--backends", default=None, help="comma-separated; default: every local backend registered")
    parser.add_argument("--sets", default=",".join(SETS), help="comma-separated: sst2, conll, own")
    parser.add_argument("--own-set", dest="dataset", default="eval", choices=("eval", "dev"))
    parser.add_argument("--limit", type=int, default=None, help="only the first N rows of every set")
    parser.add_argument("--half", default="all", choices=("all", "even", "odd"), help="public sets: these rows")
    parser.add_argument("--sentiment-params", default="", help="tool parameters, e.g. calibrate=true")
    parser.add_argument("--ner-params", default="", help="tool parameters for ner")
    parser.add_argument("--n-threads", type=int, default=0)
    parser.add_argument("--no-write", action="store_true", help="print only; leave the docs alone")
    parser.add_argument(
        "--errors", action="store_true",
        help="also print each misclassified SST-2 phrase with its label probabilities",
    )
    args = parser.parse_args(argv or [])
    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    unknown = set(sets) - set(SETS)
    if unknown:
        parser.error(f"unknown sets: {', '.join(sorted(unknown))}")
    options: dict[str, Any] = {"n_ctx": 2048}
    if args.n_threads:
        options["n_threads"] = args.n_threads
    sentiment_params, ner_params = parse_params(args.sentiment_params), parse_params(args.ner_params)
    backends = args.backends.split(",") if args.backends else local_backends()
    public_rows, own_rows = [], []
    for model in args.models.split(","):
        for backend in backends:
            print(f"evaluating {model} on {backend} ...", flush=True)
            public, own = evaluate(
                model.strip(), backend.strip(), sets, args.dataset, args.limit, dict(options),
                sentiment_params, ner_params, args.half,
            )
            print(public, own, sep="\n", flush=True)
            if args.errors and public.mistakes:
                heading = f"SST-2 phrases {model} got wrong ({len(public.mistakes)}):"
                print(heading, *public.mistakes, sep="\n", flush=True)
            public_rows.append(public)
            own_rows.append(own)
    public_body = own_body = ""
    if {"sst2", "conll"} & set(sets):
        public_body = f"{public_counts(args.limit, args.half)}\n\n{markdown_table(public_rows)}\n\n{confusion_blocks(public_rows)}"
        print(public_body)
    if "own" in sets:
        own_body = f"{own_counts(args.dataset, args.limit)}\n\n{markdown_table(own_rows)}"
        print(own_body)
    full = args.limit is None and args.half == "all" and not (sentiment_params or ner_params) and set(sets) == set(SETS)
    if not args.no_write and full and args.dataset == "eval":
        write_tools_doc("public", public_body.rstrip())
        write_tools_doc("own", own_body)
        write_performance_section(public_rows, own_rows)


if __name__ == "__main__":
    main(sys.argv[1:])
