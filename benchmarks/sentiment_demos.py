"""Which fixed demonstrations the sentiment prompt should show: SST-2 accuracy of sets of 4 examples.

``python -m benchmarks.sentiment_demos make-sets --random 40 --seed 21 --out SETS.jsonl``
``python -m benchmarks.sentiment_demos run --sets SETS.jsonl --half even --results RESULTS.jsonl [--ids a,b]``
``python -m benchmarks.sentiment_demos orders --sets SETS.jsonl --id ID --out SETS.jsonl``
``python -m benchmarks.sentiment_demos report --results RESULTS.jsonl``

Zhao et al. (2021, "Calibrate before use") found a small LM's SST-2 accuracy to
swing by tens of points across sets and orders of 4 demonstrations. This scores
one such set exactly as the tool does: the *registered* sentiment tool, whose
``_demonstrations`` (how ``--examples similar`` hands the template its chosen
examples through the ``demonstrations`` variable) returns the set under test,
so the prompt is rendered and scored by the tool's own code. Every phrase of a
set shares one prefix, so the backend's KV cache keeps it (~0.15 s a phrase).

Candidates come only from the project's own examples (prompts/sentiment.pool.jsonl
and sentiment.examples.jsonl), never from the data set. For each set the
content-free prior is recorded too — the label distribution after "N/A", "" and
"[MASK]", as ``--calibrate`` measures it — to see whether a set whose prior is
balanced (a criterion that needs no labelled data) is also a set that scores well.

Results are appended one line per (set, slice) to a JSONL file, and a run skips
what is already there: an interrupted run loses nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from benchmarks.tools_eval import public_slice
from benchmarks.tools_metrics import OWN_DATA, PUBLIC_DATA, ROOT, load_jsonl

PROMPTS = ROOT / "prompts"
LABELS = ("positive", "negative")
SLICES = ("even", "odd", "own")
"""``even``/``odd``: the halves of SST-2's 500 development phrases; ``own``: tests/data/sentiment_eval.jsonl."""

Demo = Mapping[str, str]


# ---- candidate sets (pure: unit tested) ---------------------------------------------------------------


def read_examples(path: Path) -> list[dict[str, str]]:
    """The ``{input, output}`` rows of an examples file (the loader the tool's pool uses)."""
    from assistant.batch.rows import jsonl_lines

    return [json.loads(line) for line in jsonl_lines(path.read_text(encoding="utf-8")) if line.strip()]


def candidate_pool(*sources: Iterable[Demo]) -> dict[str, list[dict[str, str]]]:
    """Positive and negative examples of ``sources``, each input once, in first-seen order."""
    seen: set[str] = set()
    pool: dict[str, list[dict[str, str]]] = {label: [] for label in LABELS}
    for source in sources:
        for row in source:
            label, text = row["output"], row["input"]
            if label in pool and text not in seen:
                seen.add(text)
                pool[label].append({"input": text, "output": label})
    return pool


def interleave(positives: Sequence[Demo], negatives: Sequence[Demo]) -> list[dict[str, str]]:
    """pos, neg, pos, neg, … — the order of the tool's current examples."""
    if len(positives) != len(negatives):
        raise ValueError("interleave needs as many positives as negatives")
    return [dict(e) for pair in zip(positives, negatives) for e in pair]


def random_sets(pool: Mapping[str, Sequence[Demo]], count: int, seed: int, per_label: int = 2) -> list[list[dict[str, str]]]:
    """``count`` distinct sets of ``per_label`` positives + ``per_label`` negatives, interleaved pos first.

    Drawn with ``random.Random(seed)``, so a seed names the same sets on every machine.
    """
    rng = random.Random(seed)
    sets: list[list[dict[str, str]]] = []
    seen: set[tuple[str, ...]] = set()
    possible = math.comb(len(pool["positive"]), per_label) * math.comb(len(pool["negative"]), per_label)
    if count > possible:
        raise ValueError(f"only {possible} distinct sets exist, not {count}")
    while len(sets) < count:
        chosen = interleave(rng.sample(list(pool["positive"]), per_label), rng.sample(list(pool["negative"]), per_label))
        key = tuple(sorted(e["input"] for e in chosen))
        if key not in seen:
            seen.add(key)
            sets.append(chosen)
    return sets


def reorderings(demos: Sequence[Demo]) -> dict[str, list[dict[str, str]]]:
    """Other orders of a pos, neg, pos, neg set: named by the positions (1-based) of the original.

    ``3412`` swaps the two pairs, ``2143`` puts each negative before its positive,
    ``1324`` groups the positives first, ``2413`` the negatives.
    """
    if len(demos) != 4:
        raise ValueError("reorderings are defined for sets of 4")
    names = ("3412", "2143", "1324", "2413")
    return {name: [dict(demos[int(i) - 1]) for i in name] for name in names}


def set_id(demos: Sequence[Demo]) -> str:
    """A short stable name for an ordered set: the first letters of each input's first 3 words."""
    parts = []
    for e in demos:
        words = [w for w in e["input"].split() if any(c.isalnum() for c in w)][:3]
        parts.append(("+" if e["output"] == "positive" else "-") + "".join(w[0].lower() for w in words))
    return ".".join(parts)


def prior_positive(baseline: Sequence[float]) -> float:
    """P(positive) of the content-free prior, from the tool's baseline (log mean probabilities, pos first)."""
    total = sum(math.exp(b) for b in baseline)
    return math.exp(baseline[0]) / total


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Pearson correlation of two equally long samples (nan when either is constant)."""
    if len(xs) != len(ys) or len(xs) < 2:
        raise ValueError("pearson needs two samples of the same length, at least 2")
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    return sxy / math.sqrt(sxx * syy) if sxx and syy else float("nan")


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Rank correlation (average ranks for ties)."""
    return pearson(_ranks(xs), _ranks(ys))


def _ranks(values: Sequence[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def calibrated_accuracy(p_positive: Sequence[float], prior: float, gold: Sequence[str]) -> float:
    """Accuracy had the tool run with ``calibrate=true``: each phrase's P(positive) divided by the prior's.

    The tool subtracts the log of the content-free distribution from the label
    scores; after softmax that is p(label) / prior(label), renormalised, so the
    decision only needs the stored probabilities and the prior (no second run).
    """
    if len(p_positive) != len(gold):
        raise ValueError("one probability per gold label")
    right = 0
    for p, label in zip(p_positive, gold):
        positive = p / prior > (1 - p) / (1 - prior)
        right += (label == "positive") == positive
    return right / len(gold)


def done_keys(results: Sequence[Mapping[str, Any]]) -> set[tuple[str, str]]:
    """(set id, slice) pairs already measured."""
    return {(r["id"], r["slice"]) for r in results}


# ---- measuring (the model) ------------------------------------------------------------------------------


def chosen_tool(demos: Sequence[Demo]) -> Any:
    """The registered sentiment tool, showing ``demos`` instead of its fixed examples.

    A subclass of the tool's own class whose ``_demonstrations`` returns the set:
    the seam ``--examples similar`` uses, so rendering, spacing, scoring and the
    content-free baseline are the tool's code, not a copy of it. A new instance per
    set, so the tool's cache of baselines never mixes two sets.
    """
    from assistant import get_tool
    from assistant.tools.registry import RegisteredTool

    registered = get_tool("sentiment")
    shown = [dict(e) for e in demos]

    class Chosen(type(registered.tool)):  # type: ignore[misc]
        def _demonstrations(self, text: str, labels: list[str], examples: str) -> list[Mapping[str, Any]]:
            return shown

    return RegisteredTool(Chosen(), registered.plugin)


def check_same_prompt(backend: Any, current: Sequence[Demo]) -> None:
    """The current examples passed as a set must give the tool's own prompt, byte for byte."""
    from assistant import get_tool

    text = "a sample phrase , for the check"
    own = get_tool("sentiment").tool._prompt(text, list(LABELS), "fixed")
    chosen = chosen_tool(current).tool._prompt(text, list(LABELS), "fixed")
    if own != chosen:
        raise SystemExit(f"the current set does not reproduce the tool's prompt:\n{own!r}\n{chosen!r}")


def slice_rows(name: str) -> list[dict[str, Any]]:
    if name == "own":
        return [r for r in load_jsonl(OWN_DATA / "sentiment_eval.jsonl") if r["label"] in LABELS]
    return public_slice(load_jsonl(PUBLIC_DATA / "sst2-dev.jsonl"), None, name)


def measure(backend: Any, demos: Sequence[Demo], rows: Sequence[Mapping[str, Any]], log: Any = None) -> dict[str, Any]:
    """Accuracy of one set on ``rows``, each phrase's P(positive), the content-free prior, and the time."""
    tool = chosen_tool(demos)
    labels = list(LABELS)
    start = time.perf_counter()
    p_positive: list[float] = []
    correct = 0
    for index, row in enumerate(rows):
        result = tool.run(row["text"], backend, labels=labels)
        p_positive.append(round(result.probabilities["positive"], 4))
        correct += result.label == row["label"]
        if log is not None and (index + 1) % 50 == 0:
            print(f"  {index + 1}/{len(rows)} {correct / (index + 1):.1%} "
                  f"{(time.perf_counter() - start) / (index + 1):.3f} s/phrase", file=log, flush=True)
    seconds = time.perf_counter() - start
    baseline = tool.tool._baseline(backend, labels, [f" {label}" for label in labels], "fixed")
    return {
        "accuracy": correct / len(rows),
        "correct": correct,
        "n": len(rows),
        "prior_positive": round(prior_positive(baseline), 4),
        "p_positive": p_positive,
        "seconds": round(seconds, 1),
    }


def load_model(n_threads: int) -> Any:
    from assistant import load_backend

    return load_backend("llama-cpp", "smollm2", progress=lambda message: None, n_ctx=2048, n_threads=n_threads)


# ---- commands ------------------------------------------------------------------------------------------------


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return load_jsonl(path) if path.exists() else []


def append_jsonl(path: Path, row: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        handle.flush()


def current_set() -> list[dict[str, str]]:
    rows = read_examples(PROMPTS / "sentiment.examples.jsonl")
    return [{"input": r["input"], "output": r["output"]} for r in rows if r["output"] in LABELS]


def cmd_make_sets(args: argparse.Namespace) -> None:
    current = current_set()
    pool = candidate_pool(current, read_examples(PROMPTS / "sentiment.pool.jsonl"))
    sets = [{"id": "current", "demonstrations": current}]
    for demos in random_sets(pool, args.random, args.seed):
        name = set_id(demos)
        while name in {s["id"] for s in sets}:  # two sets with the same initials
            name += "'"
        sets.append({"id": name, "demonstrations": demos})
    existing = {s["id"] for s in read_jsonl(Path(args.out))}
    for entry in sets:
        if entry["id"] not in existing:
            append_jsonl(Path(args.out), entry)
    print(f"{len(sets)} sets in {args.out} ({len(pool['positive'])} positive, {len(pool['negative'])} negative candidates)")


def cmd_orders(args: argparse.Namespace) -> None:
    sets = {s["id"]: s for s in read_jsonl(Path(args.sets))}
    base = sets[args.id]["demonstrations"]
    for name, demos in reorderings(base).items():
        entry_id = f"{args.id}@{name}"
        if entry_id not in sets:
            append_jsonl(Path(args.sets), {"id": entry_id, "demonstrations": demos})
            print(entry_id)


def cmd_run(args: argparse.Namespace) -> None:
    sets = read_jsonl(Path(args.sets))
    if args.ids:
        wanted = [i.strip() for i in args.ids.split(",") if i.strip()]
        by_id = {s["id"]: s for s in sets}
        missing = [i for i in wanted if i not in by_id]
        if missing:
            raise SystemExit(f"unknown set ids: {', '.join(missing)}")
        sets = [by_id[i] for i in wanted]
    results_path = Path(args.results)
    done = done_keys(read_jsonl(results_path))
    todo = [s for s in sets if (s["id"], args.half) not in done]
    print(f"{len(todo)} sets to run on {args.half} ({len(sets) - len(todo)} already done)", flush=True)
    if not todo:
        return
    rows = slice_rows(args.half)
    backend = load_model(args.n_threads)
    try:
        check_same_prompt(backend, current_set())
        for number, entry in enumerate(todo, 1):
            print(f"[{number}/{len(todo)}] {entry['id']} on {args.half} ({len(rows)} rows)", flush=True)
            outcome = measure(backend, entry["demonstrations"], rows, log=sys.stdout)
            append_jsonl(results_path, {"id": entry["id"], "slice": args.half, **outcome})
            print(f"  -> {outcome['accuracy']:.1%}  prior P(pos) {outcome['prior_positive']:.3f}  "
                  f"{outcome['seconds']:.0f} s", flush=True)
    finally:
        backend.unload()


def cmd_report(args: argparse.Namespace) -> None:
    results = read_jsonl(Path(args.results))
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for r in results:
        table.setdefault(r["id"], {})[r["slice"]] = r
    # The correlation is over the sampled sets in the tool's order (reorderings, named "id@order", apart).
    even_rows = [(i, s["even"]) for i, s in table.items() if "even" in s and "@" not in i]
    gold = {name: [r["label"] for r in slice_rows(name)] for name in SLICES}
    print("| set | even % | odd % | full % | own % | content-free P(positive) | calibrated even / odd % | s / set (even) |")
    print("|---|---|---|---|---|---|---|---|")
    for set_name, by_slice in sorted(table.items(), key=lambda item: -item[1].get("even", {"accuracy": 0})["accuracy"]):
        cells = [f"{by_slice[s]['accuracy'] * 100:.1f}" if s in by_slice else "" for s in ("even", "odd")]
        full = ""
        if "even" in by_slice and "odd" in by_slice:
            full = f"{(by_slice['even']['correct'] + by_slice['odd']['correct']) / (by_slice['even']['n'] + by_slice['odd']['n']) * 100:.1f}"
        own = f"{by_slice['own']['accuracy'] * 100:.1f}" if "own" in by_slice else ""
        prior = next(iter(by_slice.values()))["prior_positive"]
        secs = by_slice.get("even", {}).get("seconds", "")
        calibrated = " / ".join(
            f"{calibrated_accuracy(by_slice[s]['p_positive'], by_slice[s]['prior_positive'], gold[s]) * 100:.1f}"
            if s in by_slice else "" for s in ("even", "odd")
        )
        print(f"| {set_name} | {cells[0]} | {cells[1]} | {full} | {own} | {prior:.3f} | {calibrated} | {secs} |")
    if args.sets:
        inputs = {entry["id"]: entry["demonstrations"] for entry in read_jsonl(Path(args.sets))}
        print("\nsets measured on both halves:")
        for set_name, by_slice in table.items():
            if "odd" in by_slice and set_name in inputs:
                shown = " | ".join(f"{e['output'][:3]}: {e['input']}" for e in inputs[set_name])
                print(f"- {set_name}: {shown}")
    if len(even_rows) >= 3:
        accuracy = [r["accuracy"] for _, r in even_rows]
        balance = [-abs(r["prior_positive"] - 0.5) for _, r in even_rows]
        prior = [r["prior_positive"] for _, r in even_rows]
        # Label-free too: how far the share of phrases called positive is from half (unlabelled inputs only).
        share = [-abs(sum(p > 0.5 for p in r["p_positive"]) / len(r["p_positive"]) - 0.5) for _, r in even_rows]
        print(f"\nsets on the even half (tool's order): {len(even_rows)}; "
              f"accuracy {min(accuracy):.1%} – {max(accuracy):.1%}")
        print(f"correlation with even accuracy: balance of the predictions −|share called positive − 0.5| "
              f"Pearson {pearson(share, accuracy):+.2f}, Spearman {spearman(share, accuracy):+.2f}")
        print(f"correlation with even accuracy: balance −|P(pos)−0.5| Pearson {pearson(balance, accuracy):+.2f}, "
              f"Spearman {spearman(balance, accuracy):+.2f}; P(pos) itself Pearson {pearson(prior, accuracy):+.2f}, "
              f"Spearman {spearman(prior, accuracy):+.2f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("make-sets", help="the current set plus random ones, to a sets file")
    make.add_argument("--random", type=int, default=40)
    make.add_argument("--seed", type=int, default=21)
    make.add_argument("--out", required=True)
    orders = commands.add_parser("orders", help="append other orders of one set to the sets file")
    orders.add_argument("--sets", required=True)
    orders.add_argument("--id", required=True)
    run = commands.add_parser("run", help="score sets on a slice, appending to the results file")
    run.add_argument("--sets", required=True)
    run.add_argument("--ids", default="", help="comma-separated set ids (default: every set in the file)")
    run.add_argument("--half", default="even", choices=SLICES)
    run.add_argument("--results", required=True)
    run.add_argument("--n-threads", type=int, default=1)
    report = commands.add_parser("report", help="the table and the prior–accuracy correlation")
    report.add_argument("--results", required=True)
    report.add_argument("--sets", default="", help="also list the inputs of the sets measured on both halves")
    args = parser.parse_args(argv)
    {"make-sets": cmd_make_sets, "orders": cmd_orders, "run": cmd_run, "report": cmd_report}[args.command](args)


if __name__ == "__main__":
    main(sys.argv[1:])
