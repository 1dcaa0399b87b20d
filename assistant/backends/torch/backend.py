"""The transformers backend: models run natively in PyTorch, on CUDA, Apple MPS or the CPU.

It loads the same catalog GGUF files as llama-cpp (converted once to a
safetensors copy, :mod:`assistant.backends.torch.convert`) and plain Hugging Face
model directories. Everything a caller sees is shared with llama-cpp:
streaming, stop sequences, UTF-8 safety, cancel and timings come from
:class:`TokenLoopBackend`; the prompt comes from the same chat-template code
with the same BOS rule, so both engines feed identical token ids; sampling
follows llama.cpp's chain (:mod:`assistant.backends.torch.sampling`).

Decoding never calls ``model.generate``: a hand-written loop drives a decoder
with a KV cache — the native one (:mod:`assistant.backends.torch.native_decoder`)
for Llama and Gemma 3, else the HF forward — and keeps the cached tokens so a
follow-up request re-evaluates only what changed (chat turns, ``score``).

Device and dtype default to the fastest safe choice: cuda > mps > cpu, bf16 on
a GPU and fp32 on the CPU. Running out of GPU memory unloads the model and
raises a :class:`BackendError` that says what to change; the app keeps going.

This module is the protocol implementation: option checks, what a load keeps,
locks and threads, the generation loop. Reading a model directory and choosing
its decoder and token rules is :mod:`.loading`; which tokens the KV cache holds
(prompt-prefix reuse, forced tokens, continuation log-probs) :mod:`.prompt_cache`;
attention maps :mod:`.attention_window`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import threading
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

from ...errors import BackendError, ModelLoadError
from ...models.context_size import OVERRIDE_OPTION, override_requested
from ...models.gguf import read_metadata
from ...option_values import check_backend_options, switch_option, unknown_options_error
from ...types import GenerationParams
from ..base import Capabilities, Prompt, SampledToken, TokenLoopBackend, checked_model
from ..chat_format import ChatFormat
from ..engine.threads import AvailableCores, ThreadGovernor
from ..model_files import model_on_disk
from ..prompt_reuse import common_prefix
from ..token_markers import MarkerCutter, find_markers
from .attention_window import window_weights
from .batch_scheduler import BatchScheduler, Request
from .convert import SIDECAR, ModelFacts, ensure_converted
from .device import check_context, check_gguf_context, choose_device, choose_dtype, is_oom
from .hf_decoder import PREFILL_CHUNK
from .loading import (
    TokenRules,
    check_model_directory,
    choose_decoder,
    facts_from_hf,
    load_directory,
    token_rules,
)
from .prompt_cache import PromptCache
from .sampling import Sampler, token_numbers

__all__ = ["TransformersBackend", "choose_device", "choose_dtype"]

DEFAULT_MAX_CTX = 8192
OPTIONS = ("device", "dtype", "n_ctx", "n_threads", "attn", "native", "cuda_graphs", "max_batch", OVERRIDE_OPTION)
OTHER_ENGINE_OPTIONS = {
    "n_gpu_layers": "a llama-cpp option; transformers puts the whole model on one device: "
    "device=cuda, mps or cpu",
    "flash_attn": "a llama-cpp option; transformers' attention kernel is attn=sdpa|eager",
    "n_batch": "a llama-cpp option; transformers reads a prompt in chunks of its own size",
}
"""The llama-cpp options transformers cannot honour, each refused with what it takes instead."""
MAX_BATCH = {"cpu": 16, "cuda": 64}
"""Rows decoded per forward when requests come at once (``--parallel``; ``-o max_batch=N`` changes it)."""


def check_cuda_graphs(asked: bool | None, device: Any, native: bool) -> None:
    """``cuda_graphs=true`` where it cannot take effect is refused, not ignored.

    The graphs capture the native decoder's step on a CUDA device; on the CPU
    or MPS, or with ``native=false``, the option did nothing and ``info`` said
    ``cuda_graphs: false`` with no word of why. ``None``: not given (on by
    default on CUDA).
    """
    if not asked:
        return
    if device.type != "cuda":
        raise BackendError(
            f"cuda_graphs=true needs a CUDA device, and this model runs on {device.type} "
            "(drop the option, or add -o device=cuda)"
        )
    if not native:
        raise BackendError("cuda_graphs=true needs the native decoder (drop native=false, or cuda_graphs)")


@dataclasses.dataclass(frozen=True)
class LoadChoices:
    """The load options of the transformers backend, each value checked (:func:`read_load_options`)."""

    options: dict[str, Any]
    """All of them, the integer ones made ints (``check_backend_options``)."""
    verbose: bool
    native: bool
    cuda_graphs: bool | None
    """None: not given (on by default on CUDA)."""
    attn: str
    device: Any
    dtype: Any
    max_batch: int
    override: bool
    """``n_ctx_override``: an ``n_ctx`` past the trained context is allowed."""

    @property
    def n_ctx(self) -> int:
        """The context size asked for; 0: the model's own, up to ``DEFAULT_MAX_CTX``."""
        return int(self.options.get("n_ctx") or 0)


def read_load_options(options: dict[str, Any]) -> LoadChoices:
    """Every load option checked, names and values, with no model touched: the one check ``load`` and
    ``check_options`` make.

    ``assistant compare`` calls it (through ``check_options``) before either side loads, so
    ``-o transformers:attn=SDPA2`` or ``device=cuda`` on a machine without CUDA is refused at once,
    not after the other side ran and this one found and converted its model. Imports torch:
    the device and dtype are what this torch build offers.
    """
    # checked as on llama-cpp: bool("no") is True, so `verbose = "no"` in the config turned it on
    verbose = switch_option(options, "verbose", False)
    rest = {k: v for k, v in options.items() if k not in ("verbose", "progress")}
    unknown = sorted(set(rest) - set(OPTIONS))
    if unknown:
        raise unknown_options_error("transformers", unknown, OPTIONS, OTHER_ENGINE_OPTIONS)
    # The CLI and the config check these already; the Python API passes what it is given.
    rest = check_backend_options(rest, "the transformers backend's options")
    native = switch_option(rest, "native", True)
    graphs_asked = None if rest.get("cuda_graphs") is None else switch_option(rest, "cuda_graphs", False)
    # read as device and dtype are (case and spaces aside): `attn=SDPA` was refused while `device=CPU` was taken
    attn = str(rest.get("attn") or "sdpa").strip().lower()
    if attn not in ("sdpa", "eager"):
        raise BackendError(f"attn must be sdpa or eager, not {rest.get('attn')!r}")
    override = override_requested(rest)
    device = choose_device(rest.get("device"))
    dtype = choose_dtype(rest.get("dtype"), device)
    check_cuda_graphs(graphs_asked, device, native)
    return LoadChoices(
        rest, verbose, native, graphs_asked, attn, device, dtype, rest.get("max_batch") or 0, override
    )


def check_gguf_n_ctx(metadata: dict[str, Any], choices: LoadChoices) -> None:
    """The ``n_ctx`` asked for, checked against a GGUF's header (:func:`.device.check_gguf_context`)."""
    if choices.n_ctx:  # the default is within the trained context, and small
        check_gguf_context(choices.n_ctx, metadata, choices.override, choices.dtype, choices.device)


def check_directory_n_ctx(directory: Path, facts: ModelFacts | None, choices: LoadChoices) -> None:
    """The ``n_ctx`` asked for, checked against a model directory's config (:func:`.device.check_context`)."""
    if choices.n_ctx:
        check_context(choices.n_ctx, directory, facts, choices.override, choices.dtype, choices.device)


class TransformersBackend(TokenLoopBackend):
    name = "transformers"
    capabilities_default = Capabilities(attention=True, constrained=True)
    capabilities_before_load = frozenset(
        {"score", "logprobs", "sampled_probs", "next_token", "attention", "constrained", "catalog_models"}
    )
    """The same for every model (``capabilities.known_before_load``); ``max_parallel`` waits for the decoder."""

    def __init__(self) -> None:
        super().__init__()
        self._model: Any = None
        self._tokenizer: Any = None
        self._cache: PromptCache | None = None
        """The decoder, and which token ids its KV cache holds."""
        self.prefill_chunk = PREFILL_CHUNK
        """Prompt tokens evaluated between two checks for a cancel (the decoders' own chunk)."""
        self._tokens: TokenRules | None = None
        self._facts = ModelFacts()
        self._path: Path | None = None
        self._directory: Path | None = None
        self._device: Any = None
        self._n_ctx = 0
        self._options: dict[str, Any] = {}
        self._governor: ThreadGovernor | None = None
        self._native_note = ""
        self._lock = threading.Lock()
        """Held while the model runs (:meth:`_engine_turn`): requests from several threads take turns."""
        self._lock_owner: int | None = None
        """The thread that took :attr:`_lock` (a stream paused in it still holds it)."""
        self._scheduler: BatchScheduler | None = None
        """Gathers concurrent generations into batches; only with the native decoder."""
        self._tokenizer_lock = threading.Lock()
        self._markers: MarkerCutter | None = None
        """Tokenizing mutates the fast tokenizer's settings: threads (``--parallel``) take turns."""

    # ---- loading --------------------------------------------------------------------
    def load(self, model: str, **options: Any) -> None:
        from ...models import resolve_model_path

        model = checked_model(model, f"the model given to the {self.name} backend's load()")
        progress = options.pop("progress", None)
        if progress is None:  # the Python API's default: one visible line each (a file name is untrusted text)
            from ...session import stderr_progress as progress
        choices = read_load_options(options)  # every value, before any download or load
        options, verbose, native, attn = choices.options, choices.verbose, choices.native, choices.attn
        requested_batch, graphs_asked = choices.max_batch, choices.cuda_graphs
        device, dtype = choices.device, choices.dtype
        path = resolve_model_path(model, progress=progress, directory_ok=True)  # ORG/REPO: the HF cache
        import torch

        from ..engine.threads import compute_threads

        requested_threads = int(options.get("n_threads") or 0)
        n_threads = compute_threads(requested_threads)[0]
        free_cores = AvailableCores()  # from before the load, so the first request has a measure too
        if path.is_dir():
            directory = path
            check_model_directory(directory)
            facts = ModelFacts.from_file(directory / SIDECAR)
        elif (path.parent / "config.json").is_file() and path.suffix != ".gguf":
            raise ModelLoadError(path, f"this is one file of a model directory; pass {path.parent}")
        else:  # a GGUF's n_ctx is checked from its header, before a conversion of minutes
            directory, facts = ensure_converted(
                path, progress, verbose, before_converting=lambda metadata: check_gguf_n_ctx(metadata, choices)
            )
        check_directory_n_ctx(directory, facts, choices)
        self.unload()
        torch.set_num_threads(n_threads)
        self._device = device
        with self._unloaded_on_failure(), self._device_errors("loading the model"):
            hf_model, tokenizer = load_directory(directory, dtype, device, attn, verbose, path)
            self._model, self._tokenizer = hf_model, tokenizer
            self._markers = None  # this tokenizer's, on first use
            facts = facts or facts_from_hf(hf_model, tokenizer, directory)
            max_ctx = facts.context_length or getattr(hf_model.config, "max_position_embeddings", None)
            n_ctx = int(options.get("n_ctx") or min(max_ctx or DEFAULT_MAX_CTX, DEFAULT_MAX_CTX))
            self._facts, self._path, self._directory, self._n_ctx = facts, path, directory, n_ctx
            cuda_graphs = device.type == "cuda" if graphs_asked is None else graphs_asked
            decoder, self._native_note = choose_decoder(
                hf_model, n_ctx, facts, directory, native, cuda_graphs
            )
            self._cache = PromptCache(decoder)
            self._options = {
                "device": str(device),
                "dtype": str(dtype).removeprefix("torch."),
                "n_ctx": n_ctx,
                "n_threads": n_threads,
                "decode_threads": "fixed",
                "attn": attn,
                "decoder": self._decoder.kind,
                "cuda_graphs": bool(getattr(self._decoder, "cuda_graphs", False)),
            }
            if not requested_threads and device.type == "cpu":  # measured while decoding (engine/threads.py)
                self._governor = ThreadGovernor(n_threads, free_cores)
                self._options["decode_threads"] = "adaptive"
            max_batch = requested_batch or MAX_BATCH.get(device.type, 1)
            if self._decoder.kind == "native" and max_batch > 1:  # the HF forward decodes one sequence
                self._scheduler = BatchScheduler(self._run_batch, max_batch)
                self._options["max_batch"] = max_batch
            self._model_name = model if not Path(model).exists() else path.name
            self._tokens = token_rules(tokenizer, facts, str(getattr(hf_model.config, "model_type", "")))
            self._note_model_kind(model)

    def check_options(self, options: dict[str, Any], model: str | None = None) -> None:
        """What ``load`` refuses in its options (names and values: :func:`read_load_options`), loading nothing.

        With ``model``, an ``n_ctx`` it cannot take too, from the files ``load`` would read when they
        are here (a model directory's ``config.json``, else the GGUF's header): ``compare -o
        transformers:n_ctx=100000`` was refused only when this side's turn came, after the other had run.
        """
        choices = read_load_options(dict(options))
        if model is not None:
            model = checked_model(model, "the model given to check_options()")
        path = model_on_disk(model, directory_ok=True) if model is not None and choices.n_ctx else None
        if path is None:
            return
        if path.is_dir():
            if (path / "config.json").is_file():  # else load refuses the directory itself
                check_directory_n_ctx(path, ModelFacts.from_file(path / SIDECAR), choices)
        elif not ((path.parent / "config.json").is_file() and path.suffix != ".gguf"):
            check_gguf_n_ctx(read_metadata(path), choices)

    def unload(self) -> None:
        had_model = self._model is not None
        if self._scheduler is not None:
            self._scheduler.stop()
            self._scheduler = None
        self._model = self._cache = self._tokenizer = None
        self.forget_constraint_vocabulary()
        if had_model:
            gc.collect()
            with contextlib.suppress(Exception):
                import torch

                if torch.cuda.is_available():
                    torch.cuda.empty_cache()

    @property
    def _decoder(self) -> Any:
        """The decoder running the model (the prompt cache's), None when nothing is loaded."""
        return self._cache.decoder if self._cache is not None else None

    def _require(self) -> Any:
        if self._model is None:
            raise BackendError("no model loaded")
        return self._model

    @contextlib.contextmanager
    def _unloaded_on_failure(self) -> Iterator[None]:
        """A load that fails half-way leaves no half-loaded model behind."""
        try:
            yield
        except BaseException:
            self.unload()
            raise

    @contextlib.contextmanager
    def _device_errors(self, action: str) -> Iterator[None]:
        """Out of memory → unload, and one clear error; the app can load something smaller."""
        try:
            yield
        except Exception as exc:
            if not is_oom(exc):
                raise
            device = str(self._device or "device")
            self.unload()
            raise BackendError(
                f"{device} ran out of memory while {action}; the model was unloaded. "
                "Load it again with a smaller n_ctx, dtype=float16/bfloat16, or device=cpu."
            ) from exc

    @contextlib.contextmanager
    def _engine_turn(self) -> Iterator[None]:
        """The model to oneself while it runs: generation, scoring, forced tokens, attention maps.

        The KV cache holds one sequence, and the attention forward hooks every
        layer and swaps the attention implementation: two at once gave wrong
        logits (``next`` in two threads read each other's cache). Another
        thread waits its turn (``--parallel`` requests take turns, or are
        batched); the thread that already holds it — a reply streamed but not
        read to its end — is refused in one line, since waiting for itself
        would never end and going ahead would rewrite the paused reply's cache.
        """
        me = threading.get_ident()
        if self._lock_owner == me:
            raise BackendError(
                "the transformers backend is already generating or scoring in this thread (a reply not "
                "read to its end); read or close it first"
            )
        with self._lock:
            self._lock_owner = me
            try:
                yield
            finally:
                self._lock_owner = None

    # ---- primitives --------------------------------------------------------------------
    @property
    def capabilities(self) -> Capabilities:
        """Requests from several threads are batched (``max_parallel``) when the native decoder runs."""
        batch = self._scheduler.max_batch if self._scheduler is not None else 1
        return dataclasses.replace(super().capabilities, max_parallel=batch)

    @property
    def context_length(self) -> int:
        self._require()
        return self._n_ctx

    def info(self) -> dict[str, Any]:
        info = super().info()
        info.update(
            path=str(self._path),
            converted=str(self._directory) if self._directory != self._path else None,
            chat_format=self._tokens.chat_format.source if self._tokens else None,
            **self._options,
        )
        if self._governor is not None:
            info["decode_steps_by_threads"] = dict(sorted(self._governor.use.items()))
            info["n_threads"] = self._governor.current  # what the last request settled on
        if self._native_note:
            info["decoder_note"] = self._native_note
        return info

    def chat_format(self) -> ChatFormat:
        self._require()
        assert self._tokens is not None
        return self._tokens.chat_format

    def tokenize_fragment(self, text: str, parse_special: bool) -> list[int]:
        """``split_special_tokens`` keeps special tokens' text as text, like llama.cpp's ``special=False``.

        It does not split *added* tokens that are not marked special, and the tokenizer converted
        from a GGUF has Gemma's ``<start_of_image>`` as one: untrusted text is cut inside such
        markers first, as the llama-cpp backend cuts it (:mod:`..token_markers`).
        """
        self._require()
        if parse_special:
            return self._hf_tokenize(text, split_special=False)
        return self._marker_cutter().tokenize(text, lambda piece: self._hf_tokenize(piece, split_special=True))

    def _hf_tokenize(self, text: str, split_special: bool) -> list[int]:
        with self._tokenizer_lock:  # the call sets split_special_tokens on the shared Rust tokenizer
            ids = self._tokenizer(text, add_special_tokens=False, split_special_tokens=split_special).input_ids
        return list(ids)

    def _marker_cutter(self) -> MarkerCutter:
        if self._markers is None:
            added = getattr(self._tokenizer, "added_tokens_decoder", None) or {}
            self._markers = MarkerCutter(
                find_markers((int(token_id), str(token.content)) for token_id, token in added.items() if not token.special)
            )
        return self._markers

    def leading_bos(self) -> int | None:
        self._require()
        assert self._tokens is not None
        rules = self._tokens
        return int(rules.bos_id) if rules.add_bos and rules.bos_id is not None else None

    def token_bytes(self, token_id: int) -> bytes:
        self._require()
        assert self._tokens is not None
        return self._tokens.bytes(token_id)

    def is_end_of_generation(self, token_id: int) -> bool:
        return self._tokens is not None and token_id in self._tokens.eog

    def constraint_sizes(self) -> tuple[int, int]:
        """The tokenizer's tokens, and the logits' length (the model's vocabulary may be padded past it)."""
        size = int(self._require().config.get_text_config().vocab_size)
        return min(len(self._tokenizer), size), size

    # ---- generation ----------------------------------------------------------------------------
    def _truncate(self, length: int) -> None:
        """Forget cached positions from ``length`` on (benchmarks use it to make every run pay its prefill)."""
        if self._cache is not None:
            self._cache.truncate(length)

    def sample_tokens(self, prompt_ids: list[int], params: GenerationParams) -> Iterator[SampledToken]:
        """Alone on the single-sequence path, or batched with requests from other threads (see the scheduler).

        A constrained request (``json_schema``) always runs alone: its mask is
        applied in this loop, which the batch decoder does not have.
        """
        scheduler = self._scheduler
        if scheduler is None or params.json_schema is not None:
            return self._sample_alone(prompt_ids, params)
        budget = max(1, min(params.max_tokens, self._n_ctx - len(prompt_ids)))
        request = Request(list(prompt_ids), params, budget)
        return scheduler.generate(request, lambda: self._sample_alone(prompt_ids, params))

    def _sample_alone(self, prompt_ids: list[int], params: GenerationParams) -> Iterator[SampledToken]:
        self._require()
        cache = self._cache
        assert cache is not None
        with self._engine_turn(), self._device_errors("generating"):
            governor = self._start_threads()
            if not cache.prefill(prompt_ids, self.prefill_chunk, lambda: self.cancelled):
                return
            constraint = self.json_constraint(params)
            logits = cache.evaluate(prompt_ids)
            if governor is not None:
                self._set_threads(governor.current)
            sampler = Sampler(params, device=logits.device)
            while True:
                # A schema's mask comes first, on the raw logits: the sampler chain runs over what it allows.
                token = sampler(constraint.mask_torch(logits) if constraint is not None else logits)
                done = False
                if constraint is not None:
                    constraint.advance(token)
                    done = constraint.complete
                if params.logprobs:
                    logprob, p_sampled, top = token_numbers(logits, token, params.logprobs, sampler.last)
                    yield SampledToken(token, logprob, top, p_sampled, ends_document=done)
                else:
                    yield SampledToken(token, ends_document=done)
                if len(cache.cached) >= self._n_ctx:
                    return
                started = time.perf_counter()
                logits = cache.step(token)
                if governor is not None:
                    change = governor.observe(time.perf_counter() - started)
                    if change is not None:
                        self._set_threads(change)

    def _start_threads(self) -> ThreadGovernor | None:
        """Before a request: every core left free, for its prompt (or scoring, or a batch); the governor, if any.

        torch has one thread count for everything: a decode loop sets the
        governor's count after the prompt.
        """
        if self._governor is not None:
            self._governor.start_request()
            self._set_threads(self._governor.prompt_threads)
        return self._governor

    @staticmethod
    def _set_threads(count: int) -> None:
        import torch

        torch.set_num_threads(count)

    def _run_batch(self, requests: list[Request]) -> None:
        """Decode ``requests`` together (:mod:`.native_batch`), each row with its own sampler, seed and budget.

        A row leaves the batch at its end-of-generation token, at its budget,
        or when its caller stopped reading (a stop sequence, a cancel).
        """
        from .native_batch import decode_requests

        self._require()
        with self._engine_turn(), self._device_errors("generating"):
            self._start_threads()  # a batch keeps every thread busy between barriers: no probing per step
            decode_requests(self._decoder, requests, self.is_end_of_generation)

    # ---- scoring and looking inside ----------------------------------------------------------
    def iter_logits(self, prompt_ids: list[int], token_ids: Sequence[int]) -> Iterator[Any]:
        """Logits after the prompt, then after each forced token (:meth:`PromptCache.forced_rows`)."""
        self._require()
        cache = self._cache
        assert cache is not None
        tokens = [int(t) for t in token_ids]
        with self._engine_turn(), self._device_errors("scoring tokens"):  # the cache is the decoder's one
            self._start_threads()
            yield from cache.forced_rows(prompt_ids, tokens, self.prefill_chunk, lambda: self.cancelled)

    def score(self, prompt: Prompt, candidates: Sequence[str]) -> list[float]:
        """Sum of candidate-token log-probs; the prompt is evaluated once and its cache reused.

        The prompt is read in :attr:`prefill_chunk` pieces with a check for a cancel between two,
        as generation reads it, and again before each candidate: a cancel (Ctrl-C, Esc) is a
        :class:`BackendError` at once, not after the whole prompt was read.
        """
        import torch

        self._require()
        cache = self._cache
        assert cache is not None
        prompt_ids, continued = self.scoring_token_ids(prompt, candidates)
        self._cancel.clear()  # a cancel of an earlier reply is not this one's
        results: list[float] = []
        with self._engine_turn(), self._device_errors("scoring"):
            self._start_threads()
            if not cache.prefill(prompt_ids, self.prefill_chunk, lambda: self.cancelled):
                raise BackendError("the scoring was cancelled")
            after_prompt = torch.log_softmax(cache.evaluate(prompt_ids), dim=-1)
            for full in continued:
                if self.cancelled:
                    raise BackendError("the scoring was cancelled")
                shared = max(1, common_prefix(full, prompt_ids))
                if shared == len(prompt_ids):
                    first = after_prompt
                else:  # the candidate's first token merged with the prompt's last one
                    first = torch.log_softmax(cache.evaluate(full[:shared]), dim=-1)
                results.append(cache.continuation_logprob(full[:shared], full[shared:], first))
        return results

    def attention_shape(self) -> tuple[int, int]:
        config = self._require().config.get_text_config()
        return int(config.num_hidden_layers), int(config.num_attention_heads)

    def control_token_name(self, token_id: int) -> str:
        marker = self._marker_cutter().ids.get(int(token_id))
        if marker is not None:  # a template's <start_of_image>, which untrusted text cannot become
            return marker
        if self.token_bytes(token_id):  # only control tokens have no bytes (llama.cpp's rule, hf_vocab)
            return ""
        return str(self._tokenizer.convert_ids_to_tokens(int(token_id)) or "")

    def attention_weights(self, token_ids: list[int], start: int) -> list[Any]:
        """Each layer's window of attention weights (:func:`.attention_window.window_weights`); Esc stops it."""
        hf_model = self._require()
        with self._engine_turn(), self._device_errors("computing attention maps"):  # hooks on shared modules
            return window_weights(hf_model, token_ids, start, lambda: self.cancelled)
