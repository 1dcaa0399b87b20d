"""The llama.cpp backend (llama-cpp-python): quantized GGUF models on CPU or GPU.

Generation drives ``Llama.generate`` token by token, so cancellation, stop
sequences and UTF-8 handling come from the shared :class:`TokenLoopBackend` and
behave exactly as on the transformers backend. llama.cpp's C logs are captured
into a ring buffer (shown with ``verbose=True``, and quoted in load errors)
instead of being printed over the user's terminal. What ``verbose=True`` shows
quotes the GGUF's own strings (its name, its chat template), so it is printed
through :func:`~assistant.terminal_text.visible_text`, as any untrusted text is.
"""

from __future__ import annotations

import contextlib
import ctypes
import random
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from ..errors import BackendError, ModelLoadError
from ..models.context_size import (
    OVERRIDE_OPTION,
    KvShape,
    available_memory,
    check_context_size,
)
from ..models.gguf import chat_template, header_text, read_metadata, training_context_length
from ..types import GenerationParams
from .base import Capabilities, SampledToken, TokenLoopBackend, checked_model, request_stop
from .chat_format import ChatFormat, choose_chat_format
from .engine.threads import AvailableCores, ThreadGovernor
from .llama_library import (  # noqa: F401 (_log_lines, _log_state: tests read the log buffer through this module)
    OPTIONS,  # the options load reads, named here for the engine's callers
    _chat_handlers_not_compiled,
    _import_llama_cpp,
    _log_lines,
    _log_state,
    _recent_errors,
    _stderr_silenced,
    _VisibleStream,
    callback_interrupts,
    log_presses_noted,
    read_load_options,
)
from .llama_limits import check_llama_limits
from .llama_reading import LlamaReading
from .model_files import model_on_disk
from .token_markers import MarkerCutter, vocab_markers

DEFAULT_MAX_CTX = 8192
MAX_N_CTX = 2**31 - 1
"""Largest ``n_ctx`` llama.cpp is given: its context size and positions are 32-bit numbers."""
DEFAULT_BATCH = 512
"""Prompt tokens per decode unless ``-o n_batch`` says otherwise (llama-cpp-python's default)."""


def _context_plan(lib: Any, metadata: dict[str, Any], options: dict[str, Any]) -> tuple[int, int, bool]:
    """``(n_ctx, n_gpu_layers, on_cpu)`` for a GGUF with this header, the context size checked.

    ``options`` are :func:`read_load_options`'s. An ``n_ctx`` past the trained context (unless
    ``n_ctx_override``), or whose f16 KV cache would not fit in the memory left, is refused here,
    before llama.cpp allocates it: the one check ``load`` and ``check_options`` make.
    """
    trained = training_context_length(metadata)
    n_ctx = int(options.get("n_ctx") or min(trained or DEFAULT_MAX_CTX, DEFAULT_MAX_CTX))
    default_gpu_layers = -1 if lib.llama_supports_gpu_offload() else 0
    given_layers = options.get("n_gpu_layers")
    n_gpu_layers = default_gpu_layers if given_layers is None else int(given_layers)
    on_cpu = n_gpu_layers == 0 or not lib.llama_supports_gpu_offload()
    check_context_size(  # before llama.cpp allocates the cache (f16 keys and values by default)
        n_ctx,
        trained=trained,
        shape=KvShape.from_gguf(metadata),
        bytes_per_value=2,
        override=bool(options.get(OVERRIDE_OPTION)),
        memory=available_memory() if on_cpu else None,
    )
    if n_ctx > MAX_N_CTX:  # on a GPU no memory check stops it, and ctypes wraps it (2**32 + 100 was 100)
        raise BackendError(f"n_ctx={n_ctx} is past the {MAX_N_CTX} tokens llama.cpp can hold; use a smaller n_ctx")
    return n_ctx, n_gpu_layers, on_cpu


class LlamaCppBackend(LlamaReading, TokenLoopBackend):
    name = "llama-cpp"
    # Capabilities.max_parallel stays 1: the high-level Llama object holds one sequence's
    # KV cache, and several sequences per llama_batch (low-level API, n_seq_max > 1) were
    # measured at 1.24-1.33x rows/s for N=4/8 on a 2-core CPU, under the 1.5x that would pay
    # for a second decode loop (benchmarks/llama_multiseq.py, docs/scale.md).
    capabilities_default = Capabilities(constrained=True)
    capabilities_before_load = frozenset(
        {"score", "logprobs", "sampled_probs", "next_token", "attention", "constrained", "catalog_models"}
    )
    """The same for every GGUF (``capabilities.known_before_load``): no attention weights, whichever loads."""

    def __init__(self) -> None:
        super().__init__()
        self._llm: Any = None
        self._n_ctx = 0
        self.prefill_chunk = 0
        """Prompt tokens evaluated between two checks for a cancel (0: llama.cpp's ``n_batch``)."""
        self._lib: Any = None
        self._vocab: Any = None
        self._format: ChatFormat | None = None
        self._metadata: dict[str, Any] = {}
        self._path: Path | None = None
        self._add_bos = True
        self._bos_text = ""
        self._end_marker_ids: set[int] = set()
        self._options: dict[str, Any] = {}
        self._governor: ThreadGovernor | None = None
        self._piece_cache: dict[int, bytes] = {}
        self._eog_cache: dict[int, bool] = {}
        self._control_cache: dict[int, str] = {}
        self._markers: MarkerCutter | None = None
        """Cuts untrusted text inside the vocabulary's markers (:mod:`.token_markers`); made at first use."""
        self._abort_check: Any = None
        """The abort callback llama.cpp holds while a prompt is read (:meth:`_abort_on_cancel`)."""
        self._engine_lock = threading.Lock()
        """Held while the context decodes (:meth:`_engine_turn`)."""

    # ---- loading ------------------------------------------------------------------
    def load(self, model: str, **options: Any) -> None:
        from ..models import resolve_model_path

        model = checked_model(model, f"the model given to the {self.name} backend's load()")
        progress = options.pop("progress", None)
        if progress is None:  # the Python API's default: one visible line each (a file name is untrusted text)
            from ..session import stderr_progress as progress
        options = read_load_options(options)  # names and values, before resolving the model (a download)
        verbose, flash_attn = options["verbose"], options["flash_attn"]
        path = resolve_model_path(model, progress=progress)
        if path.is_dir():  # a Hugging Face model directory is -b transformers' (it has config.json)
            hf = (path / "config.json").is_file()
            hint = "; a Hugging Face model directory runs with -b transformers" if hf else ""
            raise ModelLoadError(path, f"llama-cpp needs a .gguf file, not a directory{hint}")
        # With the tensor table: a file cut short (a copy or download interrupted) is "file is truncated
        # ...", as models info and -b transformers say, not llama.cpp's "tensor ... not within the file bounds".
        metadata = read_metadata(path, count_parameters=True)
        check_llama_limits(path, metadata)  # values llama.cpp would abort the process on
        from .engine.threads import compute_threads

        requested_threads = int(options.get("n_threads") or 0)
        n_threads, n_threads_batch = compute_threads(requested_threads)
        lib = _import_llama_cpp(verbose)
        n_ctx, n_gpu_layers, on_cpu = _context_plan(lib, metadata, options)
        # 0 is the default, as for the other count options: llama.cpp itself refused n_batch=0 at load
        n_batch = int(options.get("n_batch") or DEFAULT_BATCH)
        self.unload()
        _log_lines.clear()
        free_cores = AvailableCores()  # from before the load, so the first request has a measure too
        try:
            shown: Any = contextlib.nullcontext()
            if verbose:  # llama-cpp-python prints the GGUF's chat template and end tokens as they are
                shown = contextlib.redirect_stderr(_VisibleStream(sys.stderr))
            with _stderr_silenced(not verbose), shown, _chat_handlers_not_compiled(lib), log_presses_noted():
                llm = lib.Llama(
                    model_path=str(path),
                    n_ctx=n_ctx,
                    n_threads=n_threads,
                    n_threads_batch=n_threads_batch,
                    n_gpu_layers=n_gpu_layers,
                    n_batch=min(n_batch, n_ctx),
                    flash_attn=flash_attn,
                    verbose=verbose,
                )
        except (ValueError, RuntimeError, OSError) as exc:
            callback_interrupts.raise_pending()  # a Ctrl-C the log callback caught: not a broken model
            raise ModelLoadError(path, _recent_errors() or str(exc)) from exc
        if callback_interrupts.pending():  # pressed while it loaded: stopped, nothing kept
            with contextlib.suppress(Exception):
                llm.close()
            callback_interrupts.raise_pending()
        self._llm, self._lib, self._path, self._metadata = llm, lib, path, metadata
        # llama.cpp rounds n_ctx up (to 256s), llama-cpp-python's token record keeps the size asked for:
        # past it eval() failed ("could not broadcast … into shape (0,)") or stopped recording tokens.
        self._n_ctx = min(int(llm.n_ctx()), len(llm.input_ids))
        self._vocab = lib.llama_model_get_vocab(llm.model)
        self._piece_cache, self._eog_cache, self._control_cache, self._markers = {}, {}, {}, None
        # On the GPU the thread count hardly matters; on the CPU it is measured while decoding.
        self._governor = ThreadGovernor(n_threads, free_cores) if not requested_threads and on_cpu else None
        self._options = {
            "n_ctx": n_ctx,
            "n_threads": n_threads,
            "n_threads_batch": n_threads_batch,
            "decode_threads": "adaptive" if self._governor is not None else "fixed",
            "n_gpu_layers": n_gpu_layers,
            "flash_attn": flash_attn,
        }
        self._model_name = model if not Path(model).exists() else path.name
        self._setup_chat_format()
        self._note_model_kind(model)

    def check_options(self, options: dict[str, Any], model: str | None = None) -> None:
        """What ``load`` refuses in its options (names and values: :func:`read_load_options`), loading nothing.

        With ``model``, its context size too, as ``load`` checks it (:func:`_context_plan`), from the
        GGUF's header when the file is here: ``compare -o n_ctx=100000`` was refused only when this
        side's turn came, after the other side had run.
        """
        checked = read_load_options(dict(options))
        path = model_on_disk(checked_model(model, "the model given to check_options()")) if model is not None else None
        if path is not None:
            metadata = read_metadata(path, count_parameters=True)  # a truncated file too, as load refuses it
            check_llama_limits(path, metadata)
            _context_plan(_import_llama_cpp(checked["verbose"]), metadata, checked)

    def _setup_chat_format(self) -> None:
        llm, meta = self._llm, self._metadata
        bos_id, eos_id = llm.token_bos(), llm.token_eos()
        self._bos_text = self._piece(bos_id, special=True).decode("utf-8", "replace") if bos_id >= 0 else ""
        eos_text = self._piece(eos_id, special=True).decode("utf-8", "replace") if eos_id >= 0 else ""
        self._add_bos = bool(meta.get("tokenizer.ggml.add_bos_token", True)) and bos_id >= 0
        self._format = choose_chat_format(
            chat_template(meta),  # what models info and the mode go by: a non-string value is no template
            header_text(meta, "general.architecture") or "",
            bos_token=self._bos_text,
            eos_token=eos_text,
        )
        self._end_marker_ids = set()
        for marker in self._format.end_markers:
            ids = self._tokenize(marker.encode(), special=True)
            if len(ids) == 1:
                self._end_marker_ids.add(ids[0])

    def unload(self) -> None:
        """Free the model; refused while it decodes, since freeing a context under a decode crashed the
        process (a segmentation fault in another thread's reply; a GGML assert in a paused one resumed)."""
        if self._llm is not None:
            if not self._engine_lock.acquire(blocking=False):
                raise BackendError(
                    "the llama-cpp backend is generating or scoring (another thread, or a reply not read to "
                    "its end): stop it (cancel) or close that reply before unloading"
                )
            try:
                with contextlib.suppress(Exception):
                    self._llm.close()
                self._llm = None
            finally:
                self._engine_lock.release()
        self._abort_check = None  # freed with its context
        self.forget_constraint_vocabulary()

    def _require(self) -> Any:
        if self._llm is None:
            raise BackendError("no model loaded")
        return self._llm

    # ---- primitives ---------------------------------------------------------------
    @property
    def context_length(self) -> int:
        self._require()
        return self._n_ctx

    def info(self) -> dict[str, Any]:
        info = super().info()
        gpu = self._options.get("n_gpu_layers", 0) != 0 and self._lib is not None and self._lib.llama_supports_gpu_offload()
        info.update(
            path=str(self._path),
            device="gpu" if gpu else "cpu",
            chat_format=self._format.source if self._format else None,
            **self._options,
        )
        if self._governor is not None:
            info["decode_steps_by_threads"] = dict(sorted(self._governor.use.items()))
            info["n_threads"] = self._governor.current  # what the last reply settled on
        return info

    def chat_format(self) -> ChatFormat:
        self._require()
        assert self._format is not None
        return self._format

    def tokenize_fragment(self, text: str, parse_special: bool) -> list[int]:
        """Without ``parse_special`` (untrusted text) cut inside marker texts, which llama.cpp would read
        as the marker whatever the flag (Gemma's ``<start_of_image>``: :mod:`.token_markers`)."""
        self._require()
        if parse_special:
            return self._tokenize(text.encode("utf-8"), special=True)
        cutter = self._marker_cutter()
        return cutter.tokenize(text, lambda piece: self._tokenize(piece.encode("utf-8"), special=False))

    def _marker_cutter(self) -> MarkerCutter:
        if self._markers is None:
            markers = vocab_markers(self._lib, self._vocab, lambda token_id: self._piece(token_id, special=True))
            self._markers = MarkerCutter(markers)
        return self._markers

    def _tokenize(self, data: bytes, special: bool) -> list[int]:
        """``llama_tokenize`` into a buffer sized by the text (a token is at least one byte).

        Not ``Llama.tokenize``: llama-cpp-python sizes its buffer by the model's
        *trained* context, read from the untrusted header, so a GGUF claiming
        2**31 tokens failed every count ("Array length must be >= 0") and one
        claiming 2**30 allocated 4 GB per call.
        """
        lib = self._lib
        size = len(data) + 2
        for _ in range(2):
            buffer = (lib.llama_token * size)()
            n = lib.llama_tokenize(self._vocab, data, len(data), buffer, size, False, special)
            if n >= 0:
                return list(buffer[:n])
            if n == -(2**31):  # llama.cpp's overflow answer: more tokens than an int32 counts
                break
            size = -n
        raise BackendError(f"llama.cpp could not tokenize a text of {len(data):,} bytes")

    def leading_bos(self) -> int | None:
        return int(self._require().token_bos()) if self._add_bos else None

    def control_token_name(self, token_id: int) -> str:
        """Control (and unknown) tokens, the ones llama.cpp only parses from text with ``special=True``, and
        the vocabulary's markers, which :meth:`tokenize_fragment` keeps out of untrusted text."""
        name = self._control_cache.get(token_id)
        if name is None:
            attr = self._lib.llama_vocab_get_attr(self._vocab, token_id)
            control = attr & (self._lib.LLAMA_TOKEN_ATTR_CONTROL | self._lib.LLAMA_TOKEN_ATTR_UNKNOWN)
            control = control or token_id in self._marker_cutter().ids  # a template's <start_of_image>
            name = self._piece(token_id, special=True).decode("utf-8", "replace") if control else ""
            self._control_cache[token_id] = name
        return name

    def _piece(self, token_id: int, special: bool = False) -> bytes:
        size = 64
        buffer = ctypes.create_string_buffer(size)
        n = self._lib.llama_token_to_piece(self._vocab, token_id, buffer, size, 0, special)
        if n < 0:
            buffer = ctypes.create_string_buffer(-n)
            n = self._lib.llama_token_to_piece(self._vocab, token_id, buffer, -n, 0, special)
        return buffer.raw[:n]

    def token_bytes(self, token_id: int) -> bytes:
        piece = self._piece_cache.get(token_id)
        if piece is None:
            piece = self._piece_cache[token_id] = self._piece(token_id)
        return piece

    def is_end_of_generation(self, token_id: int) -> bool:
        eog = self._eog_cache.get(token_id)
        if eog is None:
            eog = bool(self._lib.llama_vocab_is_eog(self._vocab, token_id)) or token_id in self._end_marker_ids
            self._eog_cache[token_id] = eog
        return eog

    def _raw_logits(self) -> Any:
        """The logits the context holds for its last evaluated position: a float32 view, valid until the next eval."""
        import numpy as np

        llm = self._llm
        return np.ctypeslib.as_array(llm._ctx.get_logits_ith(-1), shape=(llm.n_vocab(),))

    def _last_logprobs(self) -> Any:
        """Log-softmax of the logits the context holds for its last evaluated position."""
        import numpy as np

        logits = self._raw_logits().astype(np.float64)
        logits -= logits.max()
        return logits - np.log(np.exp(logits).sum())

    def constraint_sizes(self) -> tuple[int, int]:
        n_vocab = int(self._require().n_vocab())
        return n_vocab, n_vocab

    @contextlib.contextmanager
    def _engine_turn(self) -> Iterator[None]:
        """The context to oneself while decoding, or a one-line refusal if it is in use.

        One llama.cpp context holds one sequence: two threads decoding at once
        aborted the whole process (``GGML_ASSERT`` in ggml-cpu), and a score taken
        while a reply is paused mid-stream would rewrite the reply's KV cache. So
        a second use is refused at once rather than waited for: a stream is a
        generator, which may be paused for ever or resumed from another thread,
        so waiting could never end. Each thread gets its own backend instead.
        """
        callback_interrupts.raise_pending()  # a Ctrl-C caught in a callback since: no new work
        if not self._engine_lock.acquire(blocking=False):
            raise BackendError(
                "the llama-cpp backend is already generating or scoring (another thread, or a reply not "
                "read to its end); load one backend per thread"
            )
        try:
            yield
        finally:
            self._engine_lock.release()
        callback_interrupts.raise_pending()  # caught by the log callback during a call that does not check

    def sample_tokens(self, prompt_ids: list[int], params: GenerationParams) -> Iterator[SampledToken]:
        """The engine's tokens, while nothing else decodes (:meth:`_engine_turn`)."""
        with self._engine_turn():
            yield from self._sample_tokens(prompt_ids, params)

    def _sample_tokens(self, prompt_ids: list[int], params: GenerationParams) -> Iterator[SampledToken]:
        """``Llama.generate`` token by token; a ``json_schema`` masks the logits first in its sampler chain.

        The mask is a custom sampler that llama-cpp-python puts *first* in the
        chain (before the repeat penalty, top-k, top-p and temperature), so the
        settings mean what they mean unconstrained. The repeat penalty is one
        there too, right after the mask: :func:`~assistant.inspect.distribution.apply_repeat_penalty`,
        the definition the sampled probabilities and the transformers sampler use. It was measured against
        llama.cpp's own grammar sampler (``LlamaGrammar.from_json_schema``) in
        docs/performance.md, "Constrained decoding".
        """
        llm = self._require()
        llm.set_seed(params.seed if params.seed is not None else random.randrange(2**31))
        want = params.logprobs
        if want:
            from ..inspect.distribution import PENALTY_LAST_N, sampled_distribution, token_numbers
        constraint = self.json_constraint(params)
        processors: list[Callable[[Any, Any], Any]] = []
        generated: list[int] = []  # the repeat penalty's window, as llama.cpp's sampler sees it
        if constraint is not None:
            # llama-cpp-python calls it from C (its custom sampler): a Ctrl-C in it is noted, the logits kept
            processors.append(callback_interrupts.guard(
                lambda _ids, logits: constraint.mask_numpy(logits), lambda _ids, logits: logits
            ))  # fmt: skip
        if params.repeat_penalty != 1.0:
            # The penalty of inspect.distribution (what the sampled probabilities and the transformers
            # sampler apply), not llama.cpp's own: that one reads the penalty as a float32, so one under
            # 1e-38 was 0 there and a penalised logit infinity, and the draw came from NaN probabilities
            # (transformers held the same value to a finite logit and repeated the token).
            from ..inspect.distribution import apply_repeat_penalty

            processors.append(callback_interrupts.guard(
                lambda _ids, logits: apply_repeat_penalty(logits, generated, params.repeat_penalty),
                lambda _ids, logits: logits,
            ))  # fmt: skip
        n_ctx = self.context_length
        self._start_threads()
        try:
            self._abort_on_cancel(True)  # until the first token: reading the prompt is what takes long
            if not self._prefill(prompt_ids):
                return
            decode_threads = self._decode_threads_timer()
            for token in decode_threads(llm.generate(
                prompt_ids,
                top_k=params.top_k,
                top_p=params.top_p,
                min_p=0.0,
                typical_p=1.0,
                temp=params.temperature,
                repeat_penalty=1.0,  # applied by the processors above (one definition of it)
                reset=True,
                logits_processor=processors or None,
            )):
                self._abort_on_cancel(False)
                callback_interrupts.raise_pending()
                token = int(token)
                generated.append(token)  # before the next draw, which reads it
                done = False
                if constraint is not None:
                    constraint.advance(token)
                    done = constraint.complete
                if want:
                    # The logits the token was just drawn from (generate evaluates it only on the next step).
                    allowed = constraint.last_allowed if constraint is not None else None
                    before = generated[-PENALTY_LAST_N - 1 : -1]  # the window this token was drawn with
                    dist = sampled_distribution(self._raw_logits(), params, before, allowed)
                    logprob, p_sampled, top = token_numbers(dist, token, want)
                    yield SampledToken(token, logprob, top, p_sampled, ends_document=done)
                else:
                    yield SampledToken(token, ends_document=done)
                if llm.n_tokens >= n_ctx:
                    return
        except (RuntimeError, ValueError) as exc:
            callback_interrupts.raise_pending()  # aborted by a Ctrl-C the abort check caught
            if self.cancelled:  # llama_decode aborted mid-prompt (returned 2): the cancel, not a failure
                return
            raise BackendError(f"llama.cpp failed while generating: {exc}") from exc
        finally:
            self._abort_on_cancel(False)

    def _abort_on_cancel(self, on: bool) -> None:
        """``on``: llama.cpp checks for a cancel between two steps of a decode, and aborts the decode.

        Without it a cancel waited for the prompt chunk being read (``n_batch``
        tokens: seconds on a busy CPU, a minute for a large model). On only
        while the prompt is read: the check is a call into Python per graph
        node, which a one-token decode would pay on every token. An aborted
        decode leaves ``n_tokens`` where it was and the next ``eval`` drops the
        cache cells past it, so the cache stays a prefix of what was read.
        """
        if on == (self._abort_check is not None):
            return
        if on:
            # This thread's own stop too (the engine process's close of one stream), taken here: llama.cpp
            # may call the check from a thread of its own, where the request's thread-local is not set.
            own = request_stop()
            check = callback_interrupts.guard_one(
                lambda _: self._cancel.is_set() or (own is not None and own.is_set()) or callback_interrupts.pending(),
                answer=True,
            )
            self._abort_check = self._lib.ggml_abort_callback(check)
            self._lib.llama_set_abort_callback(self._llm._ctx.ctx, self._abort_check, None)
        else:  # the callback object lives until llama.cpp no longer holds it
            if self._llm is not None:  # (an unload frees the context, callback and all)
                self._lib.llama_set_abort_callback(self._llm._ctx.ctx, self._lib.ggml_abort_callback(), None)
            self._abort_check = None

    def _start_threads(self) -> None:
        """Before a request: the thread count the governor starts it with, for the prompt and the first tokens."""
        if self._governor is not None:
            threads = self._governor.start_request()
            self._require()._ctx.set_n_threads(threads, self._governor.prompt_threads)

    def _decode_threads_timer(self) -> Callable[[Iterator[int]], Iterator[int]]:
        """Wraps ``generate``: times each step and lets the governor change the thread count between steps.

        Call :meth:`_start_threads` first (before the prompt is evaluated).
        """
        llm, governor = self._require(), self._governor

        def timed(steps: Iterator[int]) -> Iterator[int]:
            if governor is None:
                yield from steps
                return
            while True:
                started = time.perf_counter()
                try:
                    token = next(steps)
                except StopIteration:
                    return
                change = governor.observe(time.perf_counter() - started)
                if change is not None:
                    llm._ctx.set_n_threads(change, governor.prompt_threads)
                yield token

        return timed
