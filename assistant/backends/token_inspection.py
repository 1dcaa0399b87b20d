"""Looking inside a local engine's reply: attention weights, teacher-forced log-probs, the next token.

A base of :class:`~assistant.backends.base.TokenLoopBackend`, apart from the token loop so that each
module stays readable: these turn the engines' raw primitives (``iter_logits``, ``attention_weights``)
into the protocol's inspection members, the same numbers on every engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator, Sequence

from ..errors import BackendError, ConfigError, ContextOverflowError, NotSupportedError
from ..inspect.attention import DEFAULT_MEMORY_LIMIT as DEFAULT_ATTENTION_MEMORY_LIMIT
from ..inspect.attention import check_memory, estimate_memory, window_length
from ..types import AttentionMaps, Completion, GenerationParams, TokenLogprob, TopAlternative
from .protocol import Prompt, check_prompt_fits, checked_params

if TYPE_CHECKING:
    from ..inspect.distribution import NextToken
    from ..inspect.pieces import TokenPiece
    from .base import SampledToken


class TokenInspection:
    """The inspection members of :class:`~.base.TokenLoopBackend`, on top of what it and its engine define."""

    # What the token loop (or the engine) provides: annotations only, so the loop's own members win.
    name: str
    _cancel: Any
    capabilities: Any
    context_length: Any
    prompt_token_ids: Any
    complete: Any
    checked_token_ids: Any
    continuation_token_ids: Any
    control_token_name: Any
    token_text: Any
    token_bytes: Any

    def attention(
        self,
        prompt: Prompt,
        params: GenerationParams,
        *,
        reply: str | Sequence[int] | None = None,
        window: int | None = None,
        memory_limit: int | None = DEFAULT_ATTENTION_MEMORY_LIMIT,
    ) -> AttentionMaps:
        """Attention weights over prompt + reply, every layer and head.

        ``reply`` None generates the reply first (with ``params``); a given reply
        (text, or token ids of this model's vocabulary) is used as it is, so a
        reply another engine wrote can be looked at without generating again.
        ``window`` keeps only the last tokens (rows and columns). The memory the
        computation needs is checked against ``memory_limit`` before the reply is
        generated and again before the forward (see :mod:`assistant.inspect.attention`);
        a cancel stops it between two layers with an error.
        """
        if not self.capabilities.attention:
            raise NotSupportedError(self._no_attention())
        checked_params(params)
        if reply is not None and not isinstance(reply, str):
            if not isinstance(reply, Sequence) or isinstance(reply, (bytes, bytearray)):
                raise TypeError(f"reply must be text or a list of token ids, not {type(reply).__name__}")
        if window is not None and (isinstance(window, bool) or not isinstance(window, int)):
            raise TypeError(f"window must be a whole number of tokens or None, not {type(window).__name__}")
        if memory_limit is not None:  # "x" was a bare '<=' TypeError, -1 "over the -1 B limit"
            if isinstance(memory_limit, bool) or not isinstance(memory_limit, int):
                kind = type(memory_limit).__name__
                raise TypeError(f"memory_limit must be a whole number of bytes or None, not {kind}")
            if memory_limit < 0:
                raise ConfigError(f"memory_limit must be 0 or more bytes (None: no limit), not {memory_limit}")
        self._cancel.clear()
        prompt_ids = self.prompt_token_ids(prompt)
        n_ctx = self.context_length
        check_prompt_fits(prompt_ids, n_ctx)
        layers, heads = self.attention_shape()
        completion: Completion | None = None
        if reply is None:
            longest = len(prompt_ids) + min(params.max_tokens, n_ctx - len(prompt_ids))
            check_memory(estimate_memory(layers, heads, longest, window), memory_limit)
            completion = self.complete(prompt, params)
            if completion.finish_reason == "cancelled":
                raise BackendError("the attention computation was cancelled")
            reply_ids = list(completion.token_ids)
        elif isinstance(reply, str):
            reply_ids = self.continuation_token_ids(reply)
        else:
            reply_ids = self.checked_token_ids(reply)
        ids = prompt_ids + reply_ids
        if len(ids) > n_ctx:
            raise ContextOverflowError(len(prompt_ids), n_ctx, continuation_tokens=len(reply_ids))
        check_memory(estimate_memory(layers, heads, len(ids), window), memory_limit)
        start = len(ids) - window_length(len(ids), window)
        weights = self.attention_weights(ids, start)
        kept = ids[start:]
        return AttentionMaps(
            token_ids=kept,
            tokens=[self.token_text(t) or self.control_token_name(t) for t in kept],
            pieces=self.token_pieces(kept),
            prompt_tokens=len(prompt_ids),
            layers=weights,
            completion=completion,
            window_start=start,
        )

    def _no_attention(self) -> str:
        """The one message for an engine without attention weights, with where to get them."""
        return f"the {self.name} backend cannot return attention weights (-b transformers can)"

    # Engines with ``Capabilities.attention`` implement these three.
    def attention_shape(self) -> tuple[int, int]:
        """(layers, heads) of the loaded model: the memory estimate needs them before anything runs."""
        raise NotSupportedError(self._no_attention())

    def attention_weights(self, token_ids: list[int], start: int) -> list[Any]:
        """Each layer's ``[heads, w, w]`` float32 weights over ``token_ids[start:]`` (rows and columns).

        Runs one forward over all of ``token_ids`` keeping only the window of each
        layer as it goes; raises :class:`BackendError` if :attr:`cancelled` is set.
        """
        raise NotSupportedError(self._no_attention())

    def _logprob_entry(self, sampled: SampledToken) -> TokenLogprob:
        return self._numbered(sampled.token_id, float(sampled.logprob if sampled.logprob is not None else 0.0),
                              sampled.p_sampled, [(t, float(lp), p) for t, lp, p in sampled.top])

    def _numbered(
        self, token: int, logprob: float, p_sampled: float | None, top: Sequence[tuple[int, float, float | None]]
    ) -> TokenLogprob:
        """One step's numbers with each token's text and exact bytes (``--json`` rebuilds split characters)."""
        pieces = self._pieces_by_id([token, *(t for t, _, _ in top)])

        def piece(token_id: int) -> tuple[bytes | None, bool]:
            found = pieces.get(token_id)
            return (None, False) if found is None else (found.piece, bool(found.special))

        return TokenLogprob(
            self.token_text(token), token, logprob,
            [TopAlternative(self.token_text(t), t, lp, p, *piece(t)) for t, lp, p in top],
            p_sampled, *piece(token),
        )  # fmt: skip

    def _pieces_by_id(self, token_ids: Sequence[int]) -> dict[int, TokenPiece]:
        try:
            return {piece.token_id: piece for piece in self.token_pieces(sorted(set(token_ids)))}
        except NotSupportedError:
            return {}

    # ---- looking inside: teacher-forced numbers and the next-token distribution -------
    def iter_logits(self, prompt_ids: list[int], token_ids: Sequence[int]) -> Iterator[Any]:
        """The raw logits (1-D float32 numpy, whole vocabulary) after the prompt, then after each token.

        Lazy: the row after ``token_ids[i]`` is computed only when asked for, so
        a caller that stops early (a cancel) costs nothing more. Each row is the
        caller's to keep. Engines that form logits implement it.
        """
        raise NotSupportedError(f"the {self.name} backend cannot give next-token distributions")

    def _forced_ids(self, prompt: Prompt, token_ids: Sequence[int]) -> list[int]:
        prompt_ids = self.prompt_token_ids(prompt)
        check_prompt_fits(prompt_ids, self.context_length)  # an empty one: logits that were never computed
        # The last forced token is only read, never fed: P + R tokens need a window of P + R - 1 positions.
        if len(prompt_ids) + max(len(token_ids) - 1, 0) >= self.context_length:
            raise ContextOverflowError(len(prompt_ids), self.context_length, continuation_tokens=len(token_ids))
        return prompt_ids

    def token_logprobs(
        self, prompt: Prompt, token_ids: Sequence[int], params: GenerationParams, top: int = 5
    ) -> Iterator[TokenLogprob]:
        from ..inspect.distribution import sampled_distribution, token_numbers

        if top < 0:
            raise ConfigError(f"top must be 0 or more (alternatives per token), not {top}")
        tokens = self.checked_token_ids(token_ids)
        self._cancel.clear()
        prompt_ids = self._forced_ids(prompt, tokens)
        rows = self.iter_logits(prompt_ids, tokens)
        try:
            for index, (token, logits) in enumerate(zip(tokens, rows)):
                if self._cancel.is_set():
                    return
                dist = sampled_distribution(logits, params, tokens[:index])
                logprob, p_sampled, alternatives = token_numbers(dist, token, top)
                yield self._numbered(token, logprob, p_sampled, alternatives)
        finally:
            rows.close()

    def token_pieces(self, token_ids: Sequence[int]) -> list[TokenPiece]:
        from ..inspect.pieces import TokenPiece

        return [TokenPiece(t, self.token_bytes(t), self.control_token_name(t)) for t in self.checked_token_ids(token_ids)]

    def next_token(self, prompt: Prompt, params: GenerationParams, top: int = 10) -> NextToken:
        from ..inspect.distribution import next_token

        checked_params(params)
        self._cancel.clear()
        prompt_ids = self._forced_ids(prompt, [])
        rows = self.iter_logits(prompt_ids, [])
        try:
            logits = next(rows, None)
        finally:
            rows.close()
        if logits is None:  # a cancel ended the engine's rows before the first (not a bare StopIteration)
            raise BackendError("the next-token computation was cancelled")
        return next_token(logits, params, self.token_text, top=top, prompt_tokens=len(prompt_ids))
