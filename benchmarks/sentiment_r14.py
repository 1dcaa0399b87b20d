"""Round 14 levers for SST-2 sentiment with SmolLM2-135M: recorded once, replayed with no model.

``python -m benchmarks.sentiment_r14 record --cache /tmp/r14s.json [--variants a,b] [--rows N]``
``python -m benchmarks.sentiment_r14 knn --out /tmp/r14knn.npz``
``python -m benchmarks.sentiment_r14 replay --cache /tmp/r14s.json[,/tmp/more.json] [--knn /tmp/r14knn.npz]``

Issue #21 asks for 88 % on the 500 SST-2 development phrases (84.6 % today: even rows 80.8 %,
odd 88.4 %) within 1.5× the seconds per phrase. Earlier rounds (docs/tools.md, "What each method
gave") showed that no monotone function of today's one log-odds can get there (the best constant
shift, chosen with the gold labels, gives 82.0 / 88.4 %): a lever must bring information the
prompt does not already give. This records, per phrase, the log-odds log P(positive) − log P(negative)
of prompts that differ in what they show the model:

(a) ``similar-embed``: demonstrations chosen per input by cosine similarity in the model's *own*
    embedding space (mean-pooled llama.cpp embeddings of the same GGUF) from
    ``prompts/sentiment.pool.jsonl`` (48 positive/negative examples written for the project), laid
    out in rounds of one per label as ``--examples similar`` lays out its lexical choice;
(b) ``mc-pn`` / ``mc-np``: a multiple-choice format, "Options: A) positive B) negative\\nAnswer:",
    the examples answered with their letter, " A" against " B" scored; both letter orders, so their
    average cancels the letter's position bias;
(c) ``order-*``: the fixed examples of ``prompts/sentiment.examples.jsonl`` in the other orders
    that keep positive first (each prefix cached on its own; their average is a prompt ensemble).

(d) kNN prompting (Xu et al., ICLR 2023): the whole next-token distribution at the answer position of
    the tool's own prompt (the same forward pass) compared by KL divergence with that of 248 anchors —
    the pool and ``sentiment_probe_pool.jsonl``, both written for the project — whose nearest *k* vote.

``base`` is the tool's own prompt (its template, spacing and scoring), the reference.
Each variant runs over all phrases before the next, so each fixed prefix stays in the KV cache;
the log-odds of each variant and its seconds per phrase go to a JSON cache outside the
repository (a variant already there is skipped: an interrupted run loses nothing). ``replay``
prints every single variant and every average of them on both halves and on the own set.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from benchmarks.sentiment_ensemble import LABELS, rows_digest, sst2_rows
from benchmarks.tools_metrics import OWN_DATA, ROOT, load_jsonl

PROMPTS = ROOT / "prompts"
INSTRUCTION = "Classify the sentiment of each review as positive or negative."
LETTERS = ("A", "B")


# ---- the arithmetic and the prompts (pure: unit tested) ----------------------------------------------------


def mc_prompt(text: str, demos: Sequence[Mapping[str, str]], options: Sequence[str]) -> str:
    """The multiple-choice prompt: every review followed by the options (``options[0]`` is A) and its letter."""
    line = "Options: " + " ".join(f"{letter}) {label}" for letter, label in zip(LETTERS, options))
    parts = [INSTRUCTION, ""]
    for demo in demos:
        parts += [f"Review: {demo['input']}", line, f"Answer: {LETTERS[options.index(demo['output'])]}", ""]
    parts += [f"Review: {' '.join(text.split())}", line, "Answer:"]
    return "\n".join(parts)


def mc_log_odds(scores: Sequence[float], options: Sequence[str]) -> float:
    """log P(positive) − log P(negative) from the scores of " A", " B" when A is ``options[0]``."""
    by_label = dict(zip(options, scores))
    return by_label["positive"] - by_label["negative"]


def mean_log_odds(columns: Sequence[Sequence[float]]) -> list[float]:
    """The per-phrase average of several prompts' log-odds (each prompt weighs the same)."""
    if not columns or len({len(c) for c in columns}) != 1:
        raise ValueError("one log-odds per phrase for every prompt")
    return [sum(values) / len(values) for values in zip(*columns)]


def accuracy(values: Sequence[float], gold: Sequence[str], rows: Sequence[int] | None = None) -> float:
    """Share of ``rows`` (all when None) whose decision (positive unless negative is strictly likelier) is gold."""
    chosen = range(len(gold)) if rows is None else rows
    right = [("positive" if values[i] >= 0 else "negative") == gold[i] for i in chosen]
    return sum(right) / len(right)


def orders(demos: Sequence[Mapping[str, str]]) -> dict[str, list[Mapping[str, str]]]:
    """Every interleaving of the positive and negative examples that keeps a positive first."""
    positives = [d for d in demos if d["output"] == "positive"]
    negatives = [d for d in demos if d["output"] == "negative"]
    found: dict[str, list[Mapping[str, str]]] = {}
    for p in itertools.permutations(range(len(positives))):
        for n in itertools.permutations(range(len(negatives))):
            name = "order-" + "".join(f"P{i + 1}N{j + 1}" for i, j in zip(p, n))
            found[name] = [e for i, j in zip(p, n) for e in (positives[i], negatives[j])]
    return found


def selective_mean(base: Sequence[float], others: Sequence[Sequence[float]], threshold: float) -> tuple[list[float], float]:
    """(log-odds, share of phrases asked): the other prompts averaged in only where the base prompt's best
    label is under ``threshold`` — what costs 1 + share × len(others) phrase evaluations instead of 1 + len(others)."""
    values, asked = [], 0
    for i, value in enumerate(base):
        if 1 / (1 + math.exp(-abs(value))) < threshold:
            asked += 1
            values.append((value + sum(o[i] for o in others)) / (1 + len(others)))
        else:
            values.append(value)
    return values, asked / len(base) if base else 0.0


def kl_distances(queries: Any, anchors: Any) -> Any:
    """KL(anchor ‖ query) for every query (rows) and anchor (columns), from log-probabilities: one matmul,
    since KL(a ‖ q) = Σ a·log a − Σ a·log q."""
    import numpy as np

    p = np.exp(anchors)
    return (p * anchors).sum(axis=1)[None, :] - np.asarray(queries) @ p.T


def knn_log_odds(query: Any, anchors: Any, anchor_labels: Sequence[str], k: int) -> float:
    """kNN prompting (Xu et al., ICLR 2023): the ``k`` anchors whose next-token distribution at the answer
    position is nearest the query's (KL(anchor ‖ query), over the whole vocabulary) vote; the result is the
    smoothed log-odds of their votes (add-one), so it can be averaged with the label log-odds."""
    return votes_log_odds(kl_distances(query[None, :], anchors)[0], anchor_labels, k)


def votes_log_odds(distance: Any, anchor_labels: Sequence[str], k: int) -> float:
    """The add-one log-odds of the votes of the ``k`` nearest anchors (ties: the first anchors)."""
    import numpy as np

    nearest = np.argsort(distance, kind="stable")[:k]
    positive = sum(anchor_labels[i] == "positive" for i in nearest)
    return math.log((positive + 1) / (len(nearest) - positive + 1))


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


# ---- recording (the model) --------------------------------------------------------------------------------


def read_jsonl(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def fixed_demos() -> list[dict[str, str]]:
    return [e for e in read_jsonl(PROMPTS / "sentiment.examples.jsonl") if e["output"] in LABELS]


def tool_prompt(text: str, demos: Sequence[Mapping[str, str]] | None = None) -> str:
    """The tool's own prompt for ``text`` (its template and spacing), with ``demos`` instead of the fixed ones."""
    from assistant.tools.prompts import completion_text, render
    from assistant.tools.text import tidy_spacing

    variables = {"input": tidy_spacing(text), "labels": list(LABELS), "demonstrations": list(demos or [])}
    return completion_text(render("sentiment", variables))


class EmbeddingPool:
    """``DemonstrationPool.nearest``'s layout (rounds, balanced per label) over model-embedding cosine."""

    def __init__(self, examples: Sequence[Mapping[str, str]], embed: Callable[[str], list[float]]) -> None:
        from assistant.tools.prompts import DemonstrationPool

        self.embed = embed
        self.pool = DemonstrationPool(examples)
        vectors = [embed(str(e["input"])) for e in examples]
        self.pool.similarities = lambda text: [cosine(embed(text), v) for v in vectors]  # type: ignore[method-assign]

    def nearest(self, text: str, per_label: int = 2) -> list[Mapping[str, str]]:
        return list(self.pool.nearest(text, per_label, list(LABELS)))


def embedder(model: str) -> Callable[[str], list[float]]:
    """Mean-pooled embeddings of the same GGUF through llama.cpp (a second, embedding-only context)."""
    import llama_cpp

    from assistant.models import resolve_model_path
    from assistant.tools.text import tidy_spacing

    llm = llama_cpp.Llama(model_path=str(resolve_model_path(model, progress=lambda m: None)), embedding=True,
                          n_ctx=512, n_threads=1, pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN, verbose=False)
    cache: dict[str, list[float]] = {}

    def embed(text: str) -> list[float]:
        if text not in cache:
            cache[text] = [float(x) for x in llm.embed(tidy_spacing(text))]
        return cache[text]

    return embed


def variants(model: str) -> dict[str, Callable[[], Callable[[str], tuple[str, list[str], Callable[[list[float]], float]]]]]:
    """name -> a factory of (text -> (prompt, candidates, scores -> log-odds)); factories load what they need."""
    plain = (" positive", " negative")

    def direct(scores: list[float]) -> float:
        return scores[0] - scores[1]

    found: dict[str, Callable[[], Callable[[str], tuple[str, list[str], Callable[[list[float]], float]]]]] = {
        "base": lambda: lambda text: (tool_prompt(text), list(plain), direct),
    }
    for name, options in (("mc-pn", ("positive", "negative")), ("mc-np", ("negative", "positive"))):
        def make(options: Sequence[str] = options) -> Callable[[str], tuple[str, list[str], Callable[[list[float]], float]]]:
            from assistant.tools.text import tidy_spacing

            demos = fixed_demos()
            return lambda text: (mc_prompt(tidy_spacing(text), demos, options), [" A", " B"],
                                 lambda scores: mc_log_odds(scores, options))
        found[name] = make
    for name, demos in orders(fixed_demos()).items():
        if name == "order-P1N1P2N2":
            continue  # the tool's own order: "base"
        found[name] = lambda demos=demos: lambda text: (tool_prompt(text, demos), list(plain), direct)

    def similar() -> Callable[[str], tuple[str, list[str], Callable[[list[float]], float]]]:
        pool = EmbeddingPool([e for e in read_jsonl(PROMPTS / "sentiment.pool.jsonl") if e["output"] in LABELS],
                             embedder(model))
        return lambda text: (tool_prompt(text, pool.nearest(text)), list(plain), direct)
    found["similar-embed"] = similar
    return found


def cmd_record(args: argparse.Namespace) -> None:
    from assistant import load_backend

    cache_path = Path(args.cache)
    cache = json.loads(cache_path.read_text(encoding="utf-8")) if cache_path.exists() else {}
    sst = sst2_rows()[: args.rows or None]
    own = [r for r in load_jsonl(OWN_DATA / "sentiment_eval.jsonl") if r["label"] in LABELS]
    digest = rows_digest(sst) + "/" + rows_digest(own)
    if cache.get("digest", digest) != digest:
        raise SystemExit(f"{cache_path} was recorded on other data")
    cache["digest"] = digest
    backend = load_backend("llama-cpp", args.model, progress=lambda m: None, n_ctx=2048, n_threads=args.n_threads)
    table = variants(args.model)
    wanted = args.variants.split(",") if args.variants else list(table)
    try:
        for name in wanted:
            if name in cache.get("variants", {}):
                continue
            build = table[name]()
            out: dict[str, Any] = {}
            for slice_name, rows in (("sst2", sst), ("own", own)):
                values, start = [], time.perf_counter()
                for row in rows:
                    prompt, candidates, to_log_odds = build(row["text"])
                    values.append(to_log_odds(backend.score(prompt, candidates)))
                out[slice_name] = values
                out[f"{slice_name}_s"] = (time.perf_counter() - start) / len(rows)
            cache.setdefault("variants", {})[name] = out
            cache_path.write_text(json.dumps(cache), encoding="utf-8")
            print(f"{name}: {out['sst2_s']:.3f} s/phrase; sst2 {accuracy(out['sst2'], [r['label'] for r in sst]):.1%}, "
                  f"own {accuracy(out['own'], [r['label'] for r in own]):.1%}", flush=True)
    finally:
        backend.unload()


def anchor_rows() -> list[dict[str, str]]:
    """The kNN anchors: the project's pool and the 200 opinions written for round 11's probes (none from SST-2)."""
    pool = [e for e in read_jsonl(PROMPTS / "sentiment.pool.jsonl") if e["output"] in LABELS]
    return pool + [e for e in read_jsonl(ROOT / "benchmarks" / "sentiment_probe_pool.jsonl") if e["output"] in LABELS]


def cmd_knn(args: argparse.Namespace) -> None:
    """The tool's prompt for every phrase, own-set text and anchor: the next-token log-probabilities at the
    answer position (the very forward pass that gives the label scores), to ``--out`` (.npz, float16)."""
    import numpy as np

    from assistant import load_backend

    sst = sst2_rows()[: args.rows or None]
    own = [r for r in load_jsonl(OWN_DATA / "sentiment_eval.jsonl") if r["label"] in LABELS]
    backend = load_backend("llama-cpp", args.model, progress=lambda m: None, n_ctx=2048, n_threads=args.n_threads)
    saved: dict[str, Any] = {}
    try:
        for name, texts in (("sst2", [r["text"] for r in sst]), ("own", [r["text"] for r in own]),
                            ("anchors", [r["input"] for r in anchor_rows()])):
            rows = []
            for text in texts:
                scores = backend.score(tool_prompt(text), [" positive", " negative"])
                logprobs = backend._last_logprobs()  # single-token labels: still the answer position's
                ids = [backend.tokenize_fragment(c, False)[0] for c in (" positive", " negative")]
                if abs(float(logprobs[ids[0]]) - scores[0]) > 1e-3:
                    raise SystemExit("the context's logits are not the answer position's")
                rows.append(logprobs.astype(np.float16))
            saved[name] = np.stack(rows)
            print(f"{name}: {len(rows)} rows", flush=True)
    finally:
        backend.unload()
    np.savez_compressed(args.out, digest=np.array(rows_digest(sst)), **saved)


def knn_table(path: Path, gold: Sequence[str], base: Sequence[float], halves: Mapping[str, Sequence[int]],
              own_gold: Sequence[str], own_base: Sequence[float]) -> None:
    import numpy as np

    data = np.load(path)
    anchors = data["anchors"].astype(np.float64)
    labels = [r["output"] for r in anchor_rows()]
    print("\n| kNN prompting variant | even % | odd % | all % | own pos/neg % |\n|---|---|---|---|---|")
    sst_distance = kl_distances(data["sst2"].astype(np.float64), anchors)
    own_distance = kl_distances(data["own"].astype(np.float64), anchors)
    for k in (5, 15, 45):
        knn = [votes_log_odds(d, labels, k) for d in sst_distance]
        own_knn = [votes_log_odds(d, labels, k) for d in own_distance]
        for name, values, own_values in (
            (f"k={k} alone", knn, own_knn),
            (f"base + k={k} votes (log-odds summed)", [a + b for a, b in zip(base, knn)],
             [a + b for a, b in zip(own_base, own_knn)]),
            (f"k={k} votes where base < 0.6", [b if 1 / (1 + math.exp(-abs(a))) < 0.6 else a for a, b in zip(base, knn)],
             [b if 1 / (1 + math.exp(-abs(a))) < 0.6 else a for a, b in zip(own_base, own_knn)]),
        ):
            acc = {h: 100 * accuracy(values, gold, rows) for h, rows in halves.items()}
            print(f"| {name} | {acc['even']:.1f} | {acc['odd']:.1f} | {100 * accuracy(values, gold):.1f} | "
                  f"{100 * accuracy(own_values, own_gold):.1f} |")


def cmd_replay(args: argparse.Namespace) -> None:
    recorded: dict[str, Any] = {}
    for path in args.cache.split(","):  # several recordings (processes run side by side), merged
        recorded.update(json.loads(Path(path).read_text(encoding="utf-8"))["variants"])
    n = len(next(iter(recorded.values()))["sst2"])
    sst = sst2_rows()[:n]
    own = [r for r in load_jsonl(OWN_DATA / "sentiment_eval.jsonl") if r["label"] in LABELS]
    gold, own_gold = [r["label"] for r in sst], [r["label"] for r in own]
    halves = {"even": list(range(0, n, 2)), "odd": list(range(1, n, 2))}
    if {len(v["sst2"]) for v in recorded.values()} != {n}:
        raise SystemExit("the recordings cover different numbers of phrases")
    base = recorded["base"]["sst2"]

    def row(name: str, names: Sequence[str]) -> None:
        values = mean_log_odds([recorded[v]["sst2"] for v in names])
        own_values = mean_log_odds([recorded[v]["own"] for v in names])
        acc = {h: 100 * accuracy(values, gold, rows) for h, rows in halves.items()}
        ref = {h: 100 * accuracy(base, gold, rows) for h, rows in halves.items()}
        both = " **(gains on both)**" if all(acc[h] > ref[h] for h in halves) else ""
        seconds = sum(recorded[v]["sst2_s"] for v in names) / recorded["base"]["sst2_s"]
        print(f"| {name}{both} | {acc['even']:.1f} | {acc['odd']:.1f} | {100 * accuracy(values, gold):.1f} | "
              f"{100 * accuracy(own_values, own_gold):.1f} | {seconds:.2f}× |")

    print("| variant | even % | odd % | all % | own pos/neg % | recorded s vs base (sequential runs under changing load: no timing) |\n|---|---|---|---|---|---|")
    for name in recorded:
        row(name, [name])
    combos: list[tuple[str, list[str]]] = []
    if {"mc-pn", "mc-np"} <= set(recorded):
        combos += [("mc both orders", ["mc-pn", "mc-np"]), ("base + mc both orders", ["base", "mc-pn", "mc-np"]),
                   ("base + mc-pn", ["base", "mc-pn"])]
    order_names = ["base", *[v for v in recorded if v.startswith("order-")]]
    if len(order_names) > 1:
        combos.append((f"all {len(order_names)} positive-first orders", order_names))
        combos += [(f"base + {v}", ["base", v]) for v in order_names[1:]]
    if "similar-embed" in recorded:
        combos.append(("base + similar-embed", ["base", "similar-embed"]))
    for name, names in combos:
        row(name, names)
    print("\n| selective: the others averaged in only where base < p | p | even % | odd % | all % | own % | asked |")
    print("|---|---|---|---|---|---|---|")
    for name, names in combos:
        if names[0] != "base":
            continue
        for p in (0.55, 0.6, 0.7):
            values, share = selective_mean(base, [recorded[v]["sst2"] for v in names[1:]], p)
            own_values, _ = selective_mean(recorded["base"]["own"], [recorded[v]["own"] for v in names[1:]], p)
            acc = {h: 100 * accuracy(values, gold, rows) for h, rows in halves.items()}
            print(f"| {name} | {p} | {acc['even']:.1f} | {acc['odd']:.1f} | {100 * accuracy(values, gold):.1f} | "
                  f"{100 * accuracy(own_values, own_gold):.1f} | {share:.0%} |")
    if args.knn and Path(args.knn).exists():
        knn_table(Path(args.knn), gold, base, halves, own_gold, recorded["base"]["own"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    record = commands.add_parser("record", help="each variant's per-phrase log-odds, to --cache")
    record.add_argument("--cache", required=True, help="a JSON file outside the repository")
    record.add_argument("--model", default="smollm2")
    record.add_argument("--variants", default="", help="comma-separated (default: all)")
    record.add_argument("--rows", type=int, default=0, help="only the first N phrases (0: all 500)")
    record.add_argument("--n-threads", type=int, default=1)
    replay = commands.add_parser("replay", help="every variant and average on both halves, from the cache")
    replay.add_argument("--cache", required=True, help="one or more cache files, comma-separated")
    replay.add_argument("--knn", default="", help="the .npz ``knn`` wrote (kNN prompting rows)")
    knn = commands.add_parser("knn", help="next-token log-probabilities at the answer position, to --out")
    knn.add_argument("--out", required=True, help="an .npz file outside the repository")
    knn.add_argument("--model", default="smollm2")
    knn.add_argument("--rows", type=int, default=0)
    knn.add_argument("--n-threads", type=int, default=1)
    args = parser.parse_args(argv)
    {"record": cmd_record, "replay": cmd_replay, "knn": cmd_knn}[args.command](args)


if __name__ == "__main__":
    main(sys.argv[1:])
