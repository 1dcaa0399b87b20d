"""Run one prompt through two backends and measure how far they agree.

Used by ``assistant compare``. The backends are loaded one after the other
(never both at once, so comparing needs no more memory than chatting), each
with the same messages and :class:`GenerationParams`; log-probabilities are
requested so that agreement can be measured beyond the text:

* ``first_difference`` — index of the first generated token that differs
  (``None`` when both produced the same tokens);
* ``top_overlap`` — at each step before that, the share of the top-k next-token
  candidates the two engines have in common (1.0 = the same k tokens).

Token ids are only comparable for the same model (the same vocabulary), which is
what the command is for: one model, two engines. A server that returns token
texts but no ids (``-b openai``) is compared by token text instead, and a prompt
whose token ids it cannot tell leaves ``same_prompt_ids`` unknown (``None``). A
server that returns no logprobs at all gives text but no tokens: the token
measures are then unknown (``tokens_known`` false), never "differ at token 0"
against an empty list; only ``same_text`` is measured.

Each side has its own model and backend options (:class:`Side`): a local engine
and a server need different ones (``n_threads`` against ``base_url``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

from .backends import Backend, Prompt, check_options, create_backend, load_backend
from .errors import AssistantError, BackendError, ConfigError, ModelNotFoundError, NotSupportedError
from .types import MAX_LOGPROBS, Completion, GenerationParams


@dataclass(frozen=True)
class Side:
    """One side of a comparison: the backend, the model it loads and the options only it gets."""

    backend: str
    model: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class EngineRun:
    """One backend's answer and its measurements."""

    backend: str
    model: str
    text: str
    token_ids: list[int]
    tokens: list[str]
    prompt_token_ids: list[int] | None
    """None: the backend cannot tell them (a server without a tokenizer endpoint)."""
    finish_reason: str
    ttft_ms: float | None
    tokens_per_second: float | None
    load_seconds: float
    top: list[list[int]] = field(default_factory=list)  # top-k candidate ids per step
    top_tokens: list[list[str]] = field(default_factory=list)  # the same candidates' texts
    shown: list[str] = field(default_factory=list)
    """Each generated token as :meth:`~assistant.inspect.pieces.TokenPiece.shown` draws it, from its exact
    bytes where the engine gives them: half an emoji is ``<0xF0><0x9F>``, where its text is only "\ufffd"."""

    @property
    def prompt_tokens(self) -> int | None:
        return None if self.prompt_token_ids is None else len(self.prompt_token_ids)

    @property
    def tokens_known(self) -> bool:
        """Whether the generated tokens are known: a server that sends no logprobs gives the text only."""
        return bool(self.tokens) or not self.text

    @property
    def has_ids(self) -> bool:
        """Every generated token's id, and its alternatives', is known (a server may give texts only: id -1)."""
        return (
            len(self.token_ids) == len(self.tokens)
            and all(t >= 0 for t in self.token_ids)
            and all(i >= 0 for step in self.top for i in step)
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["prompt_tokens"] = self.prompt_tokens
        data["tokens_known"] = self.tokens_known
        del data["prompt_token_ids"], data["top"], data["top_tokens"], data["shown"]
        return data

    def token_label(self, index: int) -> str:
        """Generated token ``index`` as a person should see it (terminal-safe), ``(end)`` past the last."""
        from .inspect.pieces import TokenPiece

        if index < len(self.shown):
            return self.shown[index]
        if index < len(self.tokens):
            return TokenPiece(-1, self.tokens[index].encode("utf-8")).shown()
        return "(end)"


@dataclass
class Agreement:
    same_prompt_ids: bool | None
    """None: a side could not tell its prompt's token ids."""
    first_difference: int | None
    compared_steps: int
    top_k: int
    top_overlap: list[float]
    same_text: bool
    tokens_known: bool
    """False: a side gave text without tokens (no logprobs), so the token measures
    (``first_difference``, ``compared_steps``, ``top_overlap``) were not taken."""

    @property
    def mean_top_overlap(self) -> float | None:
        return sum(self.top_overlap) / len(self.top_overlap) if self.top_overlap else None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "mean_top_overlap": self.mean_top_overlap}


def measure_agreement(a: EngineRun, b: EngineRun, top_k: int) -> Agreement:
    """First differing token and the top-k overlap of each step up to it.

    Tokens and candidates are compared by id where both sides know the ids,
    else by their text (the same vocabulary gives the same texts). Where a side
    does not know its tokens at all, nothing token-wise is claimed.
    """
    known = a.prompt_token_ids is not None and b.prompt_token_ids is not None
    same_prompt_ids = a.prompt_token_ids == b.prompt_token_ids if known else None
    if not (a.tokens_known and b.tokens_known):
        return Agreement(same_prompt_ids, None, 0, top_k, [], same_text=a.text == b.text, tokens_known=False)
    by_id = a.has_ids and b.has_ids
    seq_a: list[Any] = a.token_ids if by_id else a.tokens
    seq_b: list[Any] = b.token_ids if by_id else b.tokens
    top_a: list[list[Any]] = a.top if by_id else a.top_tokens
    top_b: list[list[Any]] = b.top if by_id else b.top_tokens
    first: int | None = None
    for index, (x, y) in enumerate(zip(seq_a, seq_b)):
        if x != y:
            first = index
            break
    else:
        if len(seq_a) != len(seq_b):
            first = min(len(seq_a), len(seq_b))
    steps = first if first is not None else len(seq_a)
    overlap = []
    for step in range(min(steps, len(top_a), len(top_b))):
        shared = set(top_a[step][:top_k]) & set(top_b[step][:top_k])
        overlap.append(len(shared) / top_k)
    return Agreement(
        same_prompt_ids=same_prompt_ids,
        first_difference=first,
        compared_steps=steps,
        top_k=top_k,
        top_overlap=overlap,
        same_text=a.text == b.text,
        tokens_known=True,
    )


def _ignore_engine(engine: Backend | None) -> None:
    """The default ``on_engine``: nobody needs to reach the loaded engine."""


def run_engine(
    side: Side,
    prompt: Prompt,
    params: GenerationParams,
    progress: Callable[[str], None],
    on_engine: Callable[[Backend | None], None] = _ignore_engine,
) -> EngineRun:
    """``prompt`` through one side's engine, loaded for it and unloaded after.

    ``on_engine`` gets the engine once it is loaded (so Ctrl-C can cancel it), and None
    once it is unloaded. A reply cut by a cancel is a :class:`BackendError`: a comparison
    with a side stopped short would measure the cancel, not the engines. Any error of the
    run says which side it came from (``the transformers side (smollm2): prompt is …``):
    the other side may have run for minutes before it.
    """
    try:
        return _run_engine(side, prompt, params, progress, on_engine)
    except AssistantError as exc:  # "prompt is 27 tokens but the context window is 8": whose window?
        named = f"the {side.backend} side"
        if not str(exc).startswith(named):
            model = side.model or "the server's model"  # openai with no -m: the server picks
            exc.args = (f"{named} ({model}): {exc}",)  # the same error, its class and fields kept
        raise


def _run_engine(
    side: Side,
    prompt: Prompt,
    params: GenerationParams,
    progress: Callable[[str], None],
    on_engine: Callable[[Backend | None], None],
) -> EngineRun:
    """:func:`run_engine`'s work; its errors are not yet named by the side they come from."""
    import time

    started = time.perf_counter()
    engine = load_backend(side.backend, side.model, progress=progress, **side.options)
    loaded = time.perf_counter() - started
    try:
        on_engine(engine)
        try:
            prompt_ids: list[int] | None = list(engine.prompt_token_ids(prompt))
        except NotSupportedError:  # a server without a tokenizer endpoint: the comparison still runs
            prompt_ids = None
        completion: Completion = engine.complete(prompt, params)
        if completion.finish_reason == "cancelled":
            raise BackendError(f"the {side.backend} side of the comparison was cancelled")
        tokens = [entry.token for entry in completion.logprobs] or [""] * len(completion.token_ids)
        # the exact pieces, while the engine is loaded (a server has no vocabulary at hand: texts then)
        shown: list[str] = []
        if engine.capabilities.next_token:
            shown = [piece.shown() for piece in engine.token_pieces(completion.token_ids)]
        return EngineRun(
            backend=side.backend,
            model=engine.model_name,
            text=completion.text,
            token_ids=list(completion.token_ids),
            tokens=tokens,
            prompt_token_ids=prompt_ids,
            finish_reason=completion.finish_reason,
            ttft_ms=completion.timings.ttft_ms,
            tokens_per_second=completion.timings.tokens_per_second,
            load_seconds=loaded,
            top=[[alt.token_id for alt in entry.top] for entry in completion.logprobs],
            top_tokens=[[alt.token for alt in entry.top] for entry in completion.logprobs],
            shown=shown,
        )
    finally:
        engine.unload()
        on_engine(None)


def check_sides_options(sides: Sequence[Side]) -> None:
    """Each side's backend options, checked by its backend (:func:`~assistant.backends.check_options`).

    An option both sides got that one of them refuses (``-o n_batch=8`` with a
    transformers side) is named with the way to give it to the other side only.
    """
    for side in sides:
        try:
            check_options(side.backend, side.options, side.model)  # n_ctx past the model: before either runs
        except AssistantError as exc:
            refused = [key for key in side.options if _refused(side.backend, key, side.options[key])]
            others = [other for other in sides if other.backend != side.backend]
            shared = [  # given to both and taken by the other side (a typo no side takes is just refused)
                key for key in refused
                if others and all(key in o.options and not _refused(o.backend, key, o.options[key]) for o in others)
            ]  # fmt: skip
            if not shared:
                raise
            other, key = others[0], shared[0]
            raise ConfigError(
                f"{exc}; -o {key} went to both sides: give it to the {other.backend} side only with "
                f"-o {other.backend}:{key}={side.options[key]}"
            ) from exc


def _refused(backend: str, key: str, value: Any) -> bool:
    try:
        check_options(backend, {key: value})
    except AssistantError:
        return True
    return False


def check_side(side: Side) -> None:
    """Fail now, in one line, on a side that could not load: an unknown backend or model reference.

    The sides run one after the other, and the first may take minutes; a typo
    in the second side's ``-m`` was reported only after it. A reference the
    catalog cannot parse is loaded for real, which fails at once and says why
    (with the hint :func:`~assistant.backends.load_backend` adds, such as a
    remote's name given to a local backend); a plugin's backend that takes
    such a name is left to run. Nothing is downloaded or loaded for a
    reference that parses.
    """
    from .models import refs

    if not create_backend(side.backend).capabilities.catalog_models:
        return  # a server names its models: only it can tell
    try:
        refs.parse(side.model)
    except ModelNotFoundError:
        load_backend(side.backend, side.model, progress=lambda _: None, **side.options).unload()


def _check_compare_args(sides: Sequence[Side], top_k: int) -> None:
    """A script's wrong ``sides`` or ``top_k``, refused in one line before either side loads.

    ``top_k=0`` ran both engines, then failed with a ZeroDivisionError while measuring;
    ``top_k=50`` failed as "logprobs must be at most 20", naming no argument of this call;
    one side was a bare ValueError (not an :mod:`assistant.errors` one)."""
    if isinstance(sides, (str, bytes)) or not isinstance(sides, Sequence) or len(sides) != 2:
        raise ConfigError("compare needs exactly two sides (a Side for each backend)")
    for side in sides:
        if not isinstance(side, Side):
            raise ConfigError(f"compare's sides must be Side(backend, model), not {type(side).__name__}")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= MAX_LOGPROBS:
        shown = repr(top_k) if isinstance(top_k, (int, float)) else type(top_k).__name__
        raise ConfigError(f"compare's top_k must be a whole number from 1 to {MAX_LOGPROBS}, not {shown}")


def compare(
    prompt: Prompt,
    params: GenerationParams,
    sides: Sequence[Side],
    top_k: int = 5,
    progress: Callable[[str], None] = lambda _: None,
    on_engine: Callable[[Backend | None], None] = _ignore_engine,
) -> tuple[list[EngineRun], Agreement]:
    """Run ``prompt`` through both sides (one at a time) and measure their agreement.

    ``on_engine`` is told of each engine as it is loaded and unloaded (:func:`run_engine`).
    """
    _check_compare_args(sides, top_k)
    check_sides_options(sides)  # -o n_gpu_layers=0 refused by a transformers side: before either side loads
    for side in sides:  # a wrong name on the second side failed only after the first side's whole run
        check_side(side)
    params = params.replace(logprobs=max(params.logprobs, top_k))
    runs = [run_engine(side, prompt, params, progress, on_engine) for side in sides]
    return runs, measure_agreement(runs[0], runs[1], top_k)
