"""Which token-level constraint engine: llguidance vs xgrammar vs outlines-core, measured on SmolLM2's vocabulary.

A one-off comparison (issue #18) that chose the engine in
:mod:`assistant.structured.constraint`. Only the chosen one is a dependency; to
rerun, put the other two on the path first, e.g.::

    pip install --target /tmp/cand/xgrammar --no-deps xgrammar apache-tvm-ffi
    pip install --target /tmp/cand/outlines_core --no-deps outlines_core
    PYTHONPATH=/tmp/cand/xgrammar:/tmp/cand/outlines_core python -m benchmarks.constraint_engines

Every engine gets the same vocabulary (the bytes of each SmolLM2 token as our
llama.cpp backend streams them, control tokens marked) and the same five
schemas. Correctness: random walks through each engine's masks (a seeded random
allowed token, biased towards closing characters so documents end) — every
finished document must ``json.loads`` and pass ``structured.schema.validate``.
Overhead: the mean time to compute one next-token mask (+ advance), over the
walks' steps. Prints a table; the figures went into docs/performance.md by hand.
"""

from __future__ import annotations

import json
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from assistant.structured.schema import validate

from .constrained import SCHEMAS

WALKS = 20
MAX_STEPS = 200


TOKENIZE: list[Callable[[str], list[int]]] = []


def vocabulary() -> tuple[list[bytes], list[int], list[bool]]:
    """(token bytes, end-of-generation ids, is-control) of SmolLM2, from the llama-cpp backend."""
    from assistant.backends import load_backend

    backend = load_backend("llama-cpp", "smollm2", n_ctx=512, progress=lambda _: None)
    n = backend._llm.n_vocab()
    tokens = [backend.token_bytes(i) for i in range(n)]
    control = [bool(backend.control_token_name(i)) for i in range(n)]
    eog = [i for i in range(n) if backend.is_end_of_generation(i)]
    TOKENIZE.append(lambda text: backend.tokenize_fragment(text, parse_special=False))
    return tokens, eog, control


class Llg:
    name = "llguidance"

    def __init__(self, tokens: list[bytes], eog: list[int], control: list[bool]) -> None:
        import llguidance

        marked = [b"\xff" + b"<ctl%d>" % i if c else t for i, (t, c) in enumerate(zip(tokens, control))]

        class Wrapper:
            eos_token_id = eog[0]
            bos_token_id = None
            special_token_ids = [i for i, c in enumerate(control) if c]

            def __init__(self) -> None:
                self.tokens = marked

            def __call__(self, text: Any) -> list[int]:
                return TOKENIZE[0](text.decode("utf-8", "replace") if isinstance(text, bytes) else text)

        t0 = time.perf_counter()
        self.tok = llguidance.LLTokenizer(llguidance.TokenizerWrapper(Wrapper()), eos_token=eog)
        self.vocab_s = time.perf_counter() - t0
        self.lib = llguidance
        self.n = len(tokens)

    def compile(self, schema: dict[str, Any]) -> Any:
        grammar = self.lib.LLMatcher.grammar_from_json_schema(schema, defaults={"whitespace_flexible": False})
        matcher = self.lib.LLMatcher(self.tok, grammar)
        assert not matcher.is_error(), matcher.get_error()
        return grammar

    def start(self, compiled: Any) -> Any:
        import numpy as np

        m = self.lib.LLMatcher(self.tok, compiled)
        words = (self.n + 31) // 32
        buf = np.zeros(words, dtype=np.int32)
        bits = np.arange(32, dtype=np.int32)

        def mask() -> Any:
            m.unsafe_compute_mask_ptr(buf.ctypes.data, buf.nbytes)
            return ((buf[:, None] >> bits) & 1).astype(bool).reshape(-1)[: self.n]

        return m, mask, m.consume_token, lambda: m.is_stopped()


class Xgr:
    name = "xgrammar"

    def __init__(self, tokens: list[bytes], eog: list[int], control: list[bool]) -> None:
        import xgrammar

        t0 = time.perf_counter()
        info = xgrammar.TokenizerInfo(
            [b"" if c else t for t, c in zip(tokens, control)], xgrammar.VocabType.RAW, stop_token_ids=eog
        )
        self.compiler = xgrammar.GrammarCompiler(info, cache_enabled=False)
        self.vocab_s = time.perf_counter() - t0
        self.lib = xgrammar
        self.n = len(tokens)

    def compile(self, schema: dict[str, Any]) -> Any:
        return self.compiler.compile_json_schema(json.dumps(schema), any_whitespace=False, strict_mode=True)

    def start(self, compiled: Any) -> Any:
        import numpy as np

        m = self.lib.GrammarMatcher(compiled)
        bitmask = self.lib.allocate_token_bitmask(1, self.n)
        bits = np.arange(32, dtype=np.int32)

        def mask() -> Any:
            m.fill_next_token_bitmask(bitmask)
            words = bitmask.numpy()[0]
            return ((words[:, None] >> bits) & 1).astype(bool).reshape(-1)[: self.n]

        return m, mask, m.accept_token, m.is_terminated


class Outlines:
    name = "outlines-core"

    def __init__(self, tokens: list[bytes], eog: list[int], control: list[bool]) -> None:
        import outlines_core

        t0 = time.perf_counter()
        mapping: dict[bytes, list[int]] = {}
        for i, (t, c) in enumerate(zip(tokens, control)):
            if t and not c and i not in eog:
                mapping.setdefault(t, []).append(i)
        self.vocab = outlines_core.Vocabulary(eog[-1], mapping)
        self.vocab_s = time.perf_counter() - t0
        self.lib = outlines_core
        self.n = len(tokens)

    def compile(self, schema: dict[str, Any]) -> Any:
        from outlines_core.json_schema import build_regex_from_schema

        return self.lib.Index(build_regex_from_schema(json.dumps(schema)), self.vocab)

    def start(self, compiled: Any) -> Any:
        import numpy as np

        g = self.lib.Guide(compiled)
        buf = np.zeros((self.n + 31) // 32, dtype=np.int32)
        bits = np.arange(32, dtype=np.int32)

        def mask() -> Any:
            g.write_mask_into(buf.ctypes.data, buf.size, 4)
            return ((buf[:, None] >> bits) & 1).astype(bool).reshape(-1)[: self.n]

        return g, mask, g.advance, g.is_finished


def walk(engine: Any, compiled: Any, tokens: list[bytes], eog: set[int], rng: random.Random) -> tuple[bytes | None, list[float]]:
    """One random document; None if it did not finish in MAX_STEPS. Returns per-step mask+advance seconds."""
    import numpy as np

    _, mask, advance, done = engine.start(compiled)
    out = b""
    times: list[float] = []
    closing = np.array([any(ch in t for ch in b'"]},') or t.strip(b"0123456789") == b"" for t in tokens])
    for _ in range(MAX_STEPS):
        t0 = time.perf_counter()
        allowed = mask()
        elapsed = time.perf_counter() - t0
        ids = np.flatnonzero(allowed)
        if len(ids) == 0:
            return None, times
        end = [i for i in ids.tolist() if i in eog]
        if end:
            return out, times
        preferred = ids[closing[ids]]
        pool = preferred if len(preferred) and rng.random() < 0.6 else ids
        token = int(pool[rng.randrange(len(pool))])
        t0 = time.perf_counter()
        advance(token)
        elapsed += time.perf_counter() - t0
        times.append(elapsed)
        out += tokens[token]
        if done():
            return out, times
    return None, times


def main() -> None:
    tokens, eog, control = vocabulary()
    engines: list[Callable[..., Any]] = [Llg, Xgr, Outlines]
    for make in engines:
        try:
            engine = make(tokens, eog, control)
        except ImportError as exc:
            print(f"{make.name}: not installed ({exc})")
            continue
        rng = random.Random(0)
        compile_ms: list[float] = []
        finished = valid = 0
        step_times: list[float] = []
        problems: list[str] = []
        for name, schema in SCHEMAS.items():
            t0 = time.perf_counter()
            try:
                compiled = engine.compile(schema)
            except Exception as exc:  # noqa: BLE001 - report what the engine refuses
                problems.append(f"{name}: compile failed: {exc}")
                continue
            compile_ms.append((time.perf_counter() - t0) * 1000)
            for _ in range(WALKS):
                doc, times = walk(engine, compiled, tokens, set(eog), rng)
                step_times += times
                if doc is None:
                    continue
                finished += 1
                try:
                    value = json.loads(doc)
                except ValueError:
                    problems.append(f"{name}: not JSON: {doc[:80]!r}")
                    continue
                errors = validate(value, schema)
                if errors:
                    problems.append(f"{name}: {errors[0]} in {doc[:80]!r}")
                else:
                    valid += 1
        mean_us = statistics.mean(step_times) * 1e6 if step_times else float("nan")
        print(
            f"| {engine.name} | {engine.vocab_s * 1000:.0f} ms | {statistics.median(compile_ms):.1f} ms "
            f"| {mean_us:.0f} µs | {valid}/{finished} finished walks valid |"
        )
        for problem in problems[:5]:
            print("   ", problem)


if __name__ == "__main__":
    main()
