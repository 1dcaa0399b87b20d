"""Constrained decoding (JSON schema) vs free decoding on SmolLM2, both local backends.

``python -m benchmarks.constrained [--quick]`` measures, in one run:

* decode speed with and without a schema (target: constrained >= 0.85 of free
  tok/s), in alternating pairs on the same loaded model, same prompt and
  settings (greedy); the free run decodes as many tokens as the constrained
  one did (``max_tokens``), so both cover the same positions. On llama-cpp, a
  third loop: llama.cpp's own grammar sampler (``LlamaGrammar.from_json_schema``
  through the raw ``Llama.generate``), against the raw unconstrained loop;
* schema compilation: the vocabulary (once per loaded model), a schema the
  first time (cold), and again (cached; target < 50 ms);
* validity on the test's prompts × schemas: how often a free reply holds a
  JSON document matching the schema (``parse_json_answer``, what templates
  did before #18) vs constrained replies (must be 100 %).

The schemas and prompts are the ones tests/test_structured_constraint_model.py
uses. Figures go to docs/performance.md, "Constrained decoding: speed".
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

from ._report import machine, median, write_section

NAME: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 24}
"""A name, city or tag: bounded, as a real schema would be. Unbounded strings and numbers let SmolLM2 at
temperature 0.7 wander on inside one until ``max_tokens`` (5 of 250 replies, measured before the bounds)."""

SCHEMAS: dict[str, dict[str, Any]] = {
    "flat": {
        "type": "object",
        "properties": {"name": NAME, "age": {"type": "integer", "minimum": 0, "maximum": 120}, "city": NAME},
        "required": ["name", "age", "city"],
        "additionalProperties": False,
    },
    "nested": {
        "type": "object",
        "properties": {
            "person": {
                "type": "object",
                "properties": {
                    "name": NAME,
                    "address": {
                        "type": "object",
                        "properties": {"city": NAME, "country": NAME},
                        "required": ["city", "country"],
                        "additionalProperties": False,
                    },
                },
                "required": ["name", "address"],
                "additionalProperties": False,
            }
        },
        "required": ["person"],
        "additionalProperties": False,
    },
    "arrays": {
        "type": "object",
        "properties": {
            "tags": {"type": "array", "items": NAME, "minItems": 1, "maxItems": 3},
            "scores": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 10}, "minItems": 2, "maxItems": 2},
        },
        "required": ["tags", "scores"],
        "additionalProperties": False,
    },
    "enums": {
        "type": "object",
        "properties": {
            "sentiment": {"enum": ["positive", "negative", "neutral"]},
            "confidence": {"type": "string", "enum": ["low", "medium", "high"]},
        },
        "required": ["sentiment", "confidence"],
        "additionalProperties": False,
    },
    "optional": {
        "type": "object",
        "properties": {
            "title": {"type": "string", "maxLength": 40},
            "year": {"type": "integer", "minimum": 1880, "maximum": 2030},
            "rating": {"type": "number", "minimum": 0, "maximum": 10},
            "seen": {"type": "boolean"},
        },
        "required": ["title"],
        "additionalProperties": False,
    },
}


SUBJECTS = [
    "a retired teacher in Lisbon", "a chess prodigy", "the first person on Mars", "a baker in Lyon",
    "a famous jazz pianist", "a lighthouse keeper", "a startup founder", "a marine biologist",
    "a medieval knight", "a Tokyo taxi driver", "a mountain guide in Nepal", "a children's author",
    "a retired astronaut", "a street musician", "a vintage car collector", "a beekeeper",
    "a museum curator", "a video game designer", "a wildlife photographer", "a ballet dancer",
    "a fisherman in Norway", "a robot that learns to paint", "a detective in Cairo", "a coffee farmer",
    "an ice hockey coach", "a village doctor", "a cartographer", "a volcano researcher",
    "a librarian who collects maps", "a wedding planner", "a submarine captain", "a circus acrobat",
    "a tea merchant", "an architect in Chicago", "a glassblower", "a park ranger",
    "a radio host", "a hot air balloon pilot", "a violin maker", "a cheese maker in the Alps",
    "a translator of poetry", "a professional surfer", "a train conductor", "a perfume designer",
    "a sushi chef", "a polar explorer", "a puppeteer", "a bus driver in Dublin",
    "a tailor in Naples", "a weather forecaster",
]  # fmt: skip
"""50 varied subjects; each schema asks something different about them."""

INSTRUCTIONS = {
    "flat": 'Give the name, age and city of {subject}. Answer in JSON like {{"name": "Ann", "age": 30, "city": "Oslo"}}.',
    "nested": (
        "Invent {subject}: their name and address. Answer in JSON like "
        '{{"person": {{"name": "Ann", "address": {{"city": "Oslo", "country": "Norway"}}}}}}.'
    ),
    "arrays": (
        "Give one to three tags and two scores from 1 to 10 for {subject}. "
        'Answer in JSON like {{"tags": ["calm", "old"], "scores": [7, 4]}}.'
    ),
    "enums": (
        "How do people usually feel about {subject}, and how sure are you? "
        'Answer in JSON like {{"sentiment": "neutral", "confidence": "low"}}.'
    ),
    "optional": (
        "Name a film about {subject}, with its year and rating if you know them. "
        'Answer in JSON like {{"title": "Up", "year": 2009, "rating": 8.2}}.'
    ),
}
"""Each prompt shows the shape, as one would prompt for JSON anyway (the constraint does not tell the model
what the keys mean; a 135M model that is not told can fall into a loop inside a free-text string)."""
LONG_SCHEMA = {
    "type": "object",
    "properties": {"steps": {"type": "array", "items": {"type": "string"}, "minItems": 6, "maxItems": 6}},
    "required": ["steps"],
    "additionalProperties": False,
}
"""The speed comparison's schema: a long reply (six free-text steps), so tok/s covers many tokens."""
LONG_PROMPT = "List six steps to bake bread at home. Answer in JSON."
MAX_TOKENS = 96
"""The tests' and the validity runs' budget: every document of the five schemas closes well within it."""


def messages(schema_name: str, subject: str) -> list[Any]:
    from assistant.types import Message

    return [Message("user", INSTRUCTIONS[schema_name].format(subject=subject))]


def _decode_pair(backend: Any, prompt: list[Any]) -> tuple[float, float, int]:
    """(constrained tok/s, free tok/s, tokens): the free run decodes as many tokens as the constrained one."""
    from assistant.types import GenerationParams

    constrained = backend.complete(prompt, GenerationParams(temperature=0, max_tokens=160, json_schema=LONG_SCHEMA))
    count = constrained.usage.completion_tokens
    free = backend.complete(prompt, GenerationParams(temperature=0, max_tokens=count))
    return float(constrained.timings.tokens_per_second), float(free.timings.tokens_per_second), count


def _raw_grammar_pair(backend: Any, prompt_ids: list[int], count: int) -> tuple[float, float]:
    """(llama.cpp grammar tok/s, unconstrained tok/s) through the raw ``Llama.generate``, ``count`` tokens each."""
    from llama_cpp import LlamaGrammar

    llm = backend._llm  # the backend's own Llama: same weights, threads and context
    grammar = LlamaGrammar.from_json_schema(json.dumps(LONG_SCHEMA), verbose=False)

    def run(grammar: Any) -> float:
        times: list[float] = []
        for token in llm.generate(prompt_ids, top_k=40, top_p=0.95, min_p=0.0, temp=0.0, grammar=grammar):
            times.append(time.perf_counter())
            if backend.is_end_of_generation(int(token)) or len(times) >= count:
                break
        return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else float("nan")

    return run(grammar), run(None)


def _compile_times(backend: Any) -> tuple[float, float, float]:
    """(vocabulary ms, cold compile median ms, cached start median ms) on a fresh vocabulary."""
    from assistant.types import GenerationParams

    backend.forget_constraint_vocabulary()
    t0 = time.perf_counter()
    backend.json_constraint(GenerationParams(json_schema={"type": "object"}))
    vocab_ms = (time.perf_counter() - t0) * 1000
    vocab = backend._constraint_vocab
    cold, cached = [], []
    for schema in [*SCHEMAS.values(), LONG_SCHEMA]:
        t0 = time.perf_counter()
        vocab.start(schema)
        cold.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        vocab.start(schema)
        cached.append((time.perf_counter() - t0) * 1000)
    return vocab_ms, median(cold), median(cached)


def _validity(backend: Any, subjects: list[str]) -> tuple[int, int, int]:
    """(free replies holding a valid document, constrained replies valid, cases) at temperature 0."""
    from assistant.structured.schema import validate
    from assistant.templates.strategies import parse_json_answer
    from assistant.types import GenerationParams

    free_ok = constrained_ok = cases = 0
    for name, schema in SCHEMAS.items():
        for subject in subjects:
            prompt = messages(name, subject)
            free = backend.complete(prompt, GenerationParams(temperature=0, max_tokens=MAX_TOKENS))
            free_ok += parse_json_answer(free.text, schema).error is None
            done = backend.complete(prompt, GenerationParams(temperature=0, max_tokens=MAX_TOKENS, json_schema=schema))
            try:
                constrained_ok += done.finish_reason == "stop" and not validate(json.loads(done.text), schema)
            except ValueError:
                pass
            cases += 1
    return free_ok, constrained_ok, cases


def main(argv: list[str] | None = None) -> None:
    from assistant.backends import load_backend
    from assistant.types import Message

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer pairs and 10 of the 50 subjects")
    parser.add_argument("--threads", type=int, default=1, help="n_threads of both engines (1: steady on a shared CPU)")
    args = parser.parse_args(argv)
    pairs = 3 if args.quick else 5
    subjects = SUBJECTS[:10] if args.quick else SUBJECTS
    load = os.getloadavg()[0]
    long_prompt = [Message("user", LONG_PROMPT)]
    rows, notes = [], []
    for name in ("llama-cpp", "transformers"):
        backend = load_backend(name, "smollm2", n_ctx=1024, n_threads=args.threads, progress=lambda _: None)
        vocab_ms, cold_ms, cached_ms = _compile_times(backend)
        _decode_pair(backend, long_prompt)  # warm-up (and the schema's compilation)
        ratios, speeds, free_speeds, grammar_ratios, counts = [], [], [], [], []
        for _ in range(pairs):
            constrained, free, count = _decode_pair(backend, long_prompt)
            ratios.append(constrained / free)
            speeds.append(constrained)
            free_speeds.append(free)
            counts.append(count)
            if name == "llama-cpp":
                grammar, raw = _raw_grammar_pair(backend, backend.prompt_token_ids(long_prompt), count)
                grammar_ratios.append(grammar / raw)
        free_ok, constrained_ok, cases = _validity(backend, subjects)
        backend.unload()
        ratio = median(ratios)
        verdict = "meets" if ratio >= 0.85 else "MISSES"
        rows.append(
            f"| {name} | {median(free_speeds):.1f} | {median(speeds):.1f} | **{ratio:.3f}** ({verdict}) "
            f"| {vocab_ms:.0f} | {cold_ms:.2f} | {cached_ms:.3f} | {free_ok}/{cases} | {constrained_ok}/{cases} |"
        )
        if grammar_ratios:
            notes.append(
                f"llama.cpp's own grammar sampler (`LlamaGrammar.from_json_schema`, raw `Llama.generate`) "
                f"ran at **{median(grammar_ratios):.3f}** of the raw unconstrained loop on the same tokens."
            )
        print(rows[-1], flush=True)
    write_section(
        "Constrained decoding: speed",
        f"""
SmolLM2-135M (Q4_1 GGUF on llama-cpp; its fp32 conversion on transformers), greedy,
`python -m benchmarks.constrained{' --quick' if args.quick else ''} --threads {args.threads}`. Machine: {machine()};
load average {load:.2f} at the start (other jobs share the CPU: ratios are of alternating pairs).

Speed: "{LONG_PROMPT}" constrained to six strings (~{median(counts):.0f} tokens), then the same
prompt free for as many tokens; median of {pairs} alternating pairs. Compilation: the vocabulary
(once per loaded model), each of the six schemas once (cold), then again (cached: a copy of the
compiled matcher). Validity: {len(subjects)} subjects × 5 schemas at temperature 0, `max_tokens`
{MAX_TOKENS}: free replies holding a document that parses and validates (`parse_json_answer`,
what `output: json` templates did before #18) against constrained replies.

| backend | free tok/s | constrained tok/s | ratio (target ≥ 0.85) | vocabulary ms | compile cold ms | compile cached ms | free valid | constrained valid |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
{chr(10).join(rows)}

{chr(10).join(notes)}
""",
    )


if __name__ == "__main__":
    main()
