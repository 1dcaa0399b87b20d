"""Round 15 levers for SST-2 sentiment with SmolLM2-135M: recorded once, replayed with no model.

``python -m benchmarks.sentiment_r15 record --cache /tmp/r15s.json [--variants a,b] [--rows N]``
``python -m benchmarks.sentiment_r15 replay --cache /tmp/r15s.json``
``python -m benchmarks.sentiment_r15 timing --variant NAME [--rows 60] [--block 10]``

Issue #21 asks for 88 % on the 500 SST-2 development phrases (84.6 % today: even rows 80.8 %,
odd 88.4 %) within 1.5× the seconds per phrase. Round 14 and before (docs/tools.md, "What each method
gave") showed that no monotone function of today's one log-odds gets there: a lever must read
something the two label words do not. This round records, per phrase:

(a) ``rate-5151`` / ``rate-5142``: a rating scale. The tool's four fixed examples rated on 1–5
    ("Rating: 5" … "Rating: 1"; the second variant grades them 5, 1, 4, 2 so the scale's middle is
    shown), the input's distribution over " 1" … " 5" read in one forward pass (each rating is one
    digit token after a shared space token); decisions: the expected rating against 3, or
    P(≥4) against P(≤2), alone and added to the label log-odds;
    ``rate-label``: examples carry both lines ("Rating: 5\\nSentiment: positive"); the input's
    rating distribution, and the label log-odds after each rating (five scorings on the cached
    prompt), so the label can be read after the greedy rating or marginalised over the ratings;
(b) ``reason``: a one-clause rationale before the label ("Reason: it praises the staff and the
    food.\\nSentiment: positive"); the input's reason generated greedily (at most 12 tokens, to the
    line end), then the labels scored after it;
(c) ``explain-after``: explanations *after* the answer in the demonstrations (Lampinen et al., 2022,
    "Can language models learn from explanations in context?": explanations after the answer help
    even though the model never writes one), the input's label scored directly — the cost of today's prompt.

``base`` is the tool's own prompt, the reference. The demonstrations' reasons and ratings were
written for this round from the tool's fixed examples (no SST-2 row or vocabulary). Each variant
runs over all phrases before the next, so its fixed prefix stays in the KV cache; a variant already
in the cache is skipped (an interrupted run loses nothing). ``timing`` measures seconds per phrase
against ``base`` in one process, alternating blocks, which sequential recordings under a changing
load cannot.

Round 15 found (all 500 phrases, even / odd halves; base 80.8 / 88.4 %): SmolLM2-135M rates almost
every phrase 3 (498 of 500), so the rating alone is 50–67 % (calibrated or not); mixed with the label
log-odds, centred on its content-free mean rating, it gains on both halves only at some weights and
some grades (5142 at w 1: 82.4 / 88.8 %, 85.6 % on all 500; 5151 never), and two prompts per phrase
cost 8.5× the seconds in one process (each evicts the other's examples). The greedy reason gives
74.8 / 83.2 % at 2.3× the seconds; explanations after the answer 74.0 / 87.6 %; rating-then-label
78.0 % at best. None is kept.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from assistant.tools.classify import CONTENT_FREE_INPUTS
from benchmarks.sentiment_ensemble import LABELS, rows_digest, sst2_rows
from benchmarks.sentiment_r14 import accuracy, fixed_demos, tool_prompt
from benchmarks.tools_metrics import OWN_DATA, load_jsonl

INSTRUCTION = "Classify the sentiment of each review as positive or negative."
RATE_INSTRUCTION = "Rate each review from 1 (very negative) to 5 (very positive)."
RATINGS = ("1", "2", "3", "4", "5")
REASON_TOKENS = 12
REASONS = {
    "The staff were friendly and the food was excellent.": "it praises the staff and the food.",
    "The screen cracked on the first day and support never replied.":
        "it complains that the screen broke and support ignored it.",
    "Easy to install, works exactly as described.": "it says the product is easy and works well.",
    "Slow, noisy and overpriced.": "it lists only faults.",
}
"""One clause per fixed example, written for this round: why its label is what it is."""
GRADES = {"rate-5151": (5, 1, 5, 1), "rate-5142": (5, 1, 4, 2), "rate-label": (5, 1, 4, 2)}
"""The rating each variant gives the four fixed examples, in their order (P1, N1, P2, N2)."""


# ---- the arithmetic and the prompts (pure: unit tested) ----------------------------------------------------


def spaced(text: str) -> str:
    """The input as the tool shows it (tidy spacing, one line)."""
    from assistant.tools.text import tidy_spacing

    return tidy_spacing(text)


def rating_prompt(text: str, demos: Sequence[Mapping[str, str]], grades: Sequence[int], with_label: bool) -> str:
    """The rating prompt: each example rated (and, ``with_label``, labelled after its rating); the input's
    "Rating:" last."""
    parts = [RATE_INSTRUCTION + (" Then classify it as positive or negative." if with_label else ""), ""]
    for demo, grade in zip(demos, grades):
        parts += [f"Review: {demo['input']}", f"Rating: {grade}"]
        if with_label:
            parts.append(f"Sentiment: {demo['output']}")
        parts.append("")
    parts += [f"Review: {spaced(text)}", "Rating:"]
    return "\n".join(parts)


def reason_prefix(demos: Sequence[Mapping[str, str]], after: bool) -> str:
    """The examples with their reasons, before the label (``after`` False) or after it."""
    parts = [INSTRUCTION, ""]
    for demo in demos:
        reason = f"Reason: {REASONS[demo['input']]}"
        label = f"Sentiment: {demo['output']}"
        parts += [f"Review: {demo['input']}", *([label, reason] if after else [reason, label]), ""]
    return "\n".join(parts)


def log_odds_of_ratings(logprobs: Sequence[float], high: Sequence[int] = (4, 5), low: Sequence[int] = (1, 2)) -> float:
    """log P(rating in ``high``) − log P(rating in ``low``) from the five ratings' log-probabilities."""
    from assistant.tools.classify import log_sum_exp

    return log_sum_exp([logprobs[r - 1] for r in high]) - log_sum_exp([logprobs[r - 1] for r in low])


def expected_rating(logprobs: Sequence[float]) -> float:
    """The mean rating under the five ratings' distribution (renormalised over 1–5)."""
    from assistant.tools.classify import softmax

    return sum((i + 1) * p for i, p in enumerate(softmax(logprobs)))


def marginal_log_odds(rating_logprobs: Sequence[float], label_log_odds: Sequence[float]) -> float:
    """log P(positive) − log P(negative) with the rating marginalised: Σ_r P(r)·P(label | r)."""
    from assistant.tools.classify import softmax

    weights = softmax(rating_logprobs)
    positive = sum(w / (1 + math.exp(-lo)) for w, lo in zip(weights, label_log_odds))
    positive = min(max(positive, 1e-12), 1 - 1e-12)
    return math.log(positive / (1 - positive))


def calibrated(logprobs: Sequence[float], content_free: Sequence[Sequence[float]]) -> list[float]:
    """The ratings' log-probabilities less the log of their mean distribution over content-free inputs
    (contextual calibration, Zhao et al. 2021, as ``--calibrate`` does for labels): a rating the model
    gives whatever the review loses exactly that favour."""
    from assistant.tools.classify import log_softmax, log_sum_exp

    rows = [log_softmax(row) for row in content_free]
    prior = [log_sum_exp(column) - math.log(len(rows)) for column in zip(*rows)]
    return [v - p for v, p in zip(log_softmax(logprobs), prior)]


def first_line(text: str) -> str:
    """A generated reason up to its line end, stripped (what goes before "\\nSentiment:")."""
    return text.split("\n", 1)[0].strip()


# ---- recording (the model) --------------------------------------------------------------------------------


Recorder = Callable[[Any, str], Any]


def recorders() -> dict[str, Recorder]:
    """name -> (backend, text) -> what is recorded for that phrase (a float log-odds, or a dict)."""
    from assistant.types import GenerationParams

    demos = fixed_demos()
    plain = [" positive", " negative"]
    digits = [f" {r}" for r in RATINGS]

    def base(backend: Any, text: str) -> float:
        scores = backend.score(tool_prompt(text), plain)
        return scores[0] - scores[1]

    def rate(grades: Sequence[int]) -> Recorder:
        return lambda backend, text: backend.score(rating_prompt(text, demos, grades, False), digits)

    def rate_label(backend: Any, text: str) -> dict[str, Any]:
        prompt = rating_prompt(text, demos, GRADES["rate-label"], True)
        ratings = backend.score(prompt, digits)
        after = []
        for r in RATINGS:
            scores = backend.score(f"{prompt} {r}\nSentiment:", plain)
            after.append(scores[0] - scores[1])
        return {"ratings": ratings, "after": after}

    reason_demos = reason_prefix(demos, after=False)
    greedy = GenerationParams(max_tokens=REASON_TOKENS, temperature=0.0, stop=["\n"])

    def reason(backend: Any, text: str) -> dict[str, Any]:
        prompt = f"{reason_demos}\nReview: {spaced(text)}\nReason:"
        said = first_line(backend.complete(prompt, greedy).text)
        scores = backend.score(f"{prompt} {said}\nSentiment:", plain)
        return {"lo": scores[0] - scores[1], "reason": said}

    after_demos = reason_prefix(demos, after=True)

    def explain_after(backend: Any, text: str) -> float:
        scores = backend.score(f"{after_demos}\nReview: {spaced(text)}\nSentiment:", plain)
        return scores[0] - scores[1]

    return {"base": base, "rate-5151": rate(GRADES["rate-5151"]), "rate-5142": rate(GRADES["rate-5142"]),
            "rate-label": rate_label, "reason": reason, "explain-after": explain_after}


def own_rows() -> list[dict[str, Any]]:
    return [r for r in load_jsonl(OWN_DATA / "sentiment_eval.jsonl") if r["label"] in LABELS]


def load(model: str, n_threads: int) -> Any:
    from assistant import load_backend

    return load_backend("llama-cpp", model, progress=lambda m: None, n_ctx=2048, n_threads=n_threads)


def cmd_record(args: argparse.Namespace) -> None:
    path = Path(args.cache)
    cache = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    sst, own = sst2_rows()[: args.rows or None], own_rows()
    digest = rows_digest(sst) + "/" + rows_digest(own)
    if cache.get("digest", digest) != digest:
        raise SystemExit(f"{path} was recorded on other data")
    cache["digest"] = digest
    table = recorders()
    content_free = [{"text": text} for text in CONTENT_FREE_INPUTS]
    backend = load(args.model, args.n_threads)
    try:
        for name in args.variants.split(",") if args.variants else list(table):
            if name in cache.get("variants", {}):
                continue
            out: dict[str, Any] = {}
            for slice_name, rows in (("sst2", sst), ("own", own), ("cf", content_free)):
                start = time.perf_counter()
                out[slice_name] = [table[name](backend, row["text"]) for row in rows]
                out[f"{slice_name}_s"] = (time.perf_counter() - start) / len(rows)
            cache.setdefault("variants", {})[name] = out
            path.write_text(json.dumps(cache), encoding="utf-8")
            print(f"{name}: {out['sst2_s']:.3f} s/phrase", flush=True)
    finally:
        backend.unload()


def decisions(name: str, records: Sequence[Any], base: Sequence[float], content_free: Sequence[Any] = ()
              ) -> dict[str, list[float]]:
    """Every decision rule replayed from one variant's records (as log-odds: positive when ≥ 0);
    ``content_free`` the same variant's records for the content-free inputs (for calibrated ratings)."""
    if name in ("base", "explain-after"):
        values = [float(r) for r in records]
        found = {name: values}
        if name != "base":
            found.update({f"base + {name} (w {w})": [b + w * v for b, v in zip(base, values)] for w in (0.5, 1.0)})
        return found
    if name.startswith("rate-") and name != "rate-label":
        odds = [log_odds_of_ratings(r) for r in records]
        found = {f"{name} P(≥4) vs P(≤2)": odds,
                 f"{name} E[rating] − 3": [expected_rating(r) - 3 for r in records],
                 f"{name} P(5) vs P(1)": [r[4] - r[0] for r in records]}
        for w in (0.25, 0.5, 1.0):
            found[f"base + {w} × {name} P(≥4) vs P(≤2)"] = [b + w * o for b, o in zip(base, odds)]
        for w in (0.5, 1.0, 2.0):
            found[f"base + {w} × ({name} E − 3)"] = [b + w * (expected_rating(r) - 3) for b, r in zip(base, records)]
        if content_free:
            center = sum(expected_rating(r) for r in content_free) / len(content_free)
            for w in (0.5, 1.0, 2.0, 4.0):
                found[f"base + {w} × ({name} E − content-free E)"] = [
                    b + w * (expected_rating(r) - center) for b, r in zip(base, records)]
            fixed = [calibrated(r, content_free) for r in records]
            odds = [log_odds_of_ratings(r) for r in fixed]
            found[f"{name} calibrated P(≥4) vs P(≤2)"] = odds
            found[f"{name} calibrated E − 3"] = [expected_rating(r) - 3 for r in fixed]
            for w in (0.25, 0.5, 1.0):
                found[f"base + {w} × {name} calibrated P(≥4) vs P(≤2)"] = [b + w * o for b, o in zip(base, odds)]
        return found
    if name == "rate-label":
        ratings = [r["ratings"] for r in records]
        greedy = [r["after"][max(range(5), key=lambda i: r["ratings"][i])] for r in records]
        marginal = [marginal_log_odds(r["ratings"], r["after"]) for r in records]
        found = {"rate-label: rating P(≥4) vs P(≤2)": [log_odds_of_ratings(r) for r in ratings],
                 "rate-label: label after the greedy rating": greedy,
                 "rate-label: label marginalised over ratings": marginal,
                 "base + rate-label marginal (w 0.5)": [b + 0.5 * m for b, m in zip(base, marginal)],
                 "base + rate-label marginal (w 1)": [b + m for b, m in zip(base, marginal)]}
        if content_free:  # one prompt: its own marginal label moved by its rating, centred on content-free input
            center = sum(expected_rating(r["ratings"]) for r in content_free) / len(content_free)
            for w in (0.5, 1.0, 2.0):
                found[f"rate-label marginal + {w} × (E − content-free E)"] = [
                    m + w * (expected_rating(r) - center) for m, r in zip(marginal, ratings)]
        return found
    if name == "reason":
        values = [r["lo"] for r in records]
        return {"reason: label after the greedy reason": values,
                "base + reason (w 0.5)": [b + 0.5 * v for b, v in zip(base, values)],
                "base + reason (w 1)": [b + v for b, v in zip(base, values)]}
    raise SystemExit(f"no replay for {name}")


def cmd_replay(args: argparse.Namespace) -> None:
    recorded = json.loads(Path(args.cache).read_text(encoding="utf-8"))["variants"]
    n = len(recorded["base"]["sst2"])
    sst, own = sst2_rows()[:n], own_rows()
    gold, own_gold = [r["label"] for r in sst], [r["label"] for r in own]
    halves = {"even": list(range(0, n, 2)), "odd": list(range(1, n, 2))}
    ref = {h: 100 * accuracy(recorded["base"]["sst2"], gold, rows) for h, rows in halves.items()}
    print("| decision | even % | odd % | all % | own pos/neg % | recorded s vs base |\n|---|---|---|---|---|---|")
    for name, data in recorded.items():
        sst_values = decisions(name, data["sst2"], recorded["base"]["sst2"], data.get("cf", ()))
        own_values = decisions(name, data["own"], recorded["base"]["own"], data.get("cf", ()))
        cost = data["sst2_s"] / recorded["base"]["sst2_s"]
        for rule, values in sst_values.items():
            acc = {h: 100 * accuracy(values, gold, rows) for h, rows in halves.items()}
            both = " **(gains on both)**" if all(acc[h] > ref[h] for h in halves) else ""
            extra = cost + (1 if rule.startswith("base + ") else 0)
            print(f"| {rule}{both} | {acc['even']:.1f} | {acc['odd']:.1f} | {100 * accuracy(values, gold):.1f} | "
                  f"{100 * accuracy(own_values[rule], own_gold):.1f} | {extra:.2f}× |")
    if args.show and "reason" in recorded:
        for row, record in list(zip(sst, recorded["reason"]["sst2"]))[: args.show]:
            print(f"{row['label'][:3]} {record['lo']:+.2f} {record['reason']!r} <- {row['text'][:60]!r}")


def cmd_timing(args: argparse.Namespace) -> None:
    """Seconds per phrase of ``--variant`` against ``base``, alternating blocks in one process; a variant
    such as ``base+rate-5142`` runs both prompts for each phrase, as a mix of the two would (each prompt's
    examples then evict the other's from the KV cache)."""
    table = recorders()
    if "+" in args.variant:
        parts = [table[name] for name in args.variant.split("+")]
        table[args.variant] = lambda backend, text: [part(backend, text) for part in parts]
    rows = sst2_rows()[: args.rows]
    backend = load(args.model, args.n_threads)
    spent = {"base": 0.0, args.variant: 0.0}
    try:
        for start in range(0, len(rows), args.block):
            for name in ("base", args.variant) if (start // args.block) % 2 == 0 else (args.variant, "base"):
                begin = time.perf_counter()
                for row in rows[start:start + args.block]:
                    table[name](backend, row["text"])
                spent[name] += time.perf_counter() - begin
    finally:
        backend.unload()
    base_s, other_s = spent["base"] / len(rows), spent[args.variant] / len(rows)
    print(f"base {base_s:.3f} s/phrase, {args.variant} {other_s:.3f} s/phrase: {other_s / base_s:.2f}×")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    record = commands.add_parser("record", help="each variant's per-phrase records, to --cache")
    record.add_argument("--cache", required=True, help="a JSON file outside the repository")
    record.add_argument("--model", default="smollm2")
    record.add_argument("--variants", default="", help="comma-separated (default: all)")
    record.add_argument("--rows", type=int, default=0, help="only the first N phrases (0: all 500)")
    record.add_argument("--n-threads", type=int, default=1)
    replay = commands.add_parser("replay", help="every decision rule on both halves, from the cache")
    replay.add_argument("--cache", required=True)
    replay.add_argument("--show", type=int, default=0, help="print the first N generated reasons")
    timing = commands.add_parser("timing", help="seconds per phrase against base, alternating blocks")
    timing.add_argument("--variant", required=True)
    timing.add_argument("--model", default="smollm2")
    timing.add_argument("--rows", type=int, default=60)
    timing.add_argument("--block", type=int, default=10)
    timing.add_argument("--n-threads", type=int, default=1)
    args = parser.parse_args(argv)
    {"record": cmd_record, "replay": cmd_replay, "timing": cmd_timing}[args.command](args)


if __name__ == "__main__":
    main(sys.argv[1:])
