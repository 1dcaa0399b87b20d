"""Reading a prompt into llama.cpp's KV cache, and scoring text with it: the llama-cpp backend's other half.

A mixin of :class:`~assistant.backends.llama_cpp.LlamaCppBackend`, apart so that
each module stays readable. A prompt is read in chunks (``n_batch`` tokens, or
``prefill_chunk``) with llama.cpp's abort check on, so a cancel or a Ctrl-C
stops it between two graph nodes; what the cache already holds is reused.
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

from ..errors import BackendError
from .base import Prompt
from .llama_library import callback_interrupts
from .prompt_reuse import common_prefix

FORCED_CHUNK = 32  # forced tokens per decode in iter_logits: chunk × vocabulary floats of logits at once


class LlamaReading:
    """Prompt reading and scoring for :class:`~.llama_cpp.LlamaCppBackend`, with its state and its lock."""

    _llm: Any
    prefill_chunk: int
    _engine_turn: Any
    _start_threads: Any
    _abort_on_cancel: Any
    _raw_logits: Any
    _last_logprobs: Any
    _require: Any
    _cancel: Any
    scoring_token_ids: Any
    cancelled: Any

    def iter_logits(self, prompt_ids: list[int], token_ids: Sequence[int]) -> Iterator[Any]:
        """:meth:`_iter_logits`, while nothing else decodes (:meth:`_engine_turn`)."""
        with self._engine_turn():
            yield from self._iter_logits(prompt_ids, token_ids)

    def _iter_logits(self, prompt_ids: list[int], token_ids: Sequence[int]) -> Iterator[Any]:
        """Logits after the prompt (its cached prefix reused), then after each forced token.

        The forced tokens run ``FORCED_CHUNK`` per decode with every position's
        logits kept (``Llama.eval`` keeps only the last one unless the whole
        context was built with ``logits_all``): a reply is scored at prompt
        speed, not one decode per token.
        """
        self._require()
        self._start_threads()
        tokens = [int(t) for t in token_ids]
        try:
            if not self._evaluate_prefix(prompt_ids):
                return  # cancelled while the prompt was read: no rows (next_token says so)
            yield self._raw_logits().copy()
            done = 0
            while done < len(tokens):
                if self.cancelled:
                    return
                chunk = tokens[done : done + min(FORCED_CHUNK, self._llm.n_batch)]
                done += len(chunk)
                yield from self._eval_all_logits(chunk)
        except (RuntimeError, ValueError) as exc:
            raise BackendError(f"llama.cpp failed while scoring tokens: {exc}") from exc
        finally:
            self._llm._requires_eval = True  # the context's logits are not the next generate()'s

    def _eval_all_logits(self, chunk: list[int]) -> Any:
        """``Llama.eval`` of one batch, asking llama.cpp for every position's logits: ``[len(chunk), vocab]``."""
        import numpy as np

        llm = self._llm
        start = llm.n_tokens
        llm._ctx.kv_cache_seq_rm(-1, start, -1)
        llm._batch.set_batch(batch=chunk, n_past=start, logits_all=True)
        llm._ctx.decode(llm._batch)
        llm.input_ids[start : start + len(chunk)] = chunk
        llm.n_tokens = start + len(chunk)
        rows = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(len(chunk) * llm.n_vocab(),))
        return rows.reshape(len(chunk), llm.n_vocab()).copy()

    def _prefill(self, prompt_ids: list[int]) -> bool:
        """Evaluate the prompt's whole ``n_batch`` chunks, one at a time; False if cancelled between two.

        ``Llama.generate`` would evaluate the prompt in one call that cannot be
        interrupted (a minute for a long conversation on a CPU). The chunks are
        the ones it would run, and the rest (at most one chunk, with the last
        token) is left to it: it finds the chunks in the cache and the numbers
        do not change.
        """
        llm = self._llm
        step = self._read_step()
        cached = common_prefix(list(llm.input_ids[: llm.n_tokens]), prompt_ids[:-1])
        whole = (len(prompt_ids) - 1 - cached) // step
        if whole == 0:
            return not self.cancelled
        return self._read_chunks(prompt_ids, cached, cached + whole * step)

    def _read_step(self) -> int:
        """Prompt tokens per ``Llama.eval`` between two checks for a cancel."""
        return self.prefill_chunk or self._llm.n_batch

    def _read_chunks(self, ids: list[int], start: int, end: int) -> bool:
        """Evaluate ``ids[start:end]`` after the cache's first ``start`` tokens, one :meth:`_read_step` at a
        time; False if cancelled between two (the abort callback, when on, stops the one under way)."""
        llm = self._llm
        step = self._read_step()
        llm.n_tokens = start
        for at in range(start, end, step):
            if self.cancelled:
                return False
            try:
                llm.eval(ids[at : min(at + step, end)])
            except (RuntimeError, ValueError):
                callback_interrupts.raise_pending()  # aborted by a Ctrl-C the abort check caught
                raise
            callback_interrupts.raise_pending()
        return not self.cancelled

    def score(self, prompt: Prompt, candidates: Sequence[str]) -> list[float]:
        """Sum of token log-probs of each candidate, evaluating the prompt once.

        The KV cache keeps the prompt; each candidate is evaluated on top of it and
        truncated away again (``Llama.eval`` drops cache cells past ``n_tokens``).
        """
        self._require()
        prompt_ids, continued = self.scoring_token_ids(prompt, candidates)
        self._cancel.clear()  # a cancel of an earlier reply is not this one's
        with self._engine_turn():
            self._start_threads()
            try:
                after_prompt = self._logprobs_after(prompt_ids)
                results: list[float] = []
                for full in continued:
                    shared = max(1, common_prefix(full, prompt_ids))
                    if shared == len(prompt_ids):
                        self._cache_exactly(prompt_ids)
                        logprobs = after_prompt
                    else:  # the candidate's first token merged with the prompt's last one
                        logprobs = self._logprobs_after(full[:shared])
                    results.append(self._continuation_logprob(full[shared:], logprobs))
            finally:
                # The logits in the context no longer belong to the cache's last position;
                # make the next generate() re-evaluate instead of sampling from them.
                self._llm._requires_eval = True
        return results

    def _continuation_logprob(self, tokens: list[int], logprobs: Any) -> float:
        total = 0.0
        for index, token in enumerate(tokens):
            total += float(logprobs[token])
            if index + 1 < len(tokens):
                self._llm.eval([token])
                logprobs = self._last_logprobs()
        return total

    def _cache_exactly(self, prefix: list[int]) -> int:
        """Make the KV cache hold exactly ``prefix``; returns how many tokens were reused."""
        llm = self._llm
        cached = common_prefix(list(llm.input_ids[: llm.n_tokens]), prefix)
        llm.n_tokens = cached
        if cached < len(prefix):
            llm.eval(prefix[cached:])
        return cached

    def _logprobs_after(self, prefix: list[int]) -> Any:
        """Next-token log-probs after ``prefix`` (re-evaluating at least its last token); a cancel is a BackendError."""
        if not self._evaluate_prefix(prefix):
            raise BackendError("the scoring was cancelled")
        return self._last_logprobs()

    def _evaluate_prefix(self, prefix: list[int]) -> bool:
        """Evaluate ``prefix``, reusing the cached part but always its last token (its logits are wanted).

        Read as :meth:`_prefill` reads a prompt: in chunks, with the abort callback on, so a
        cancel (Ctrl-C on ``assistant next`` or while scoring) stops a long prompt at once
        instead of after the whole of it. False if cancelled: the logits are then not the prefix's.
        """
        llm = self._llm
        cached = min(common_prefix(list(llm.input_ids[: llm.n_tokens]), prefix), len(prefix) - 1)
        self._abort_on_cancel(True)
        try:
            return self._read_chunks(prefix, cached, len(prefix))
        except (RuntimeError, ValueError):
            if self.cancelled:  # llama_decode aborted mid-chunk (returned 2): the cancel, not a failure
                return False
            raise
        finally:
            self._abort_on_cancel(False)
