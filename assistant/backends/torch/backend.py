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
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

from ...errors import BackendError, ModelLoadError
from ...models.context_size import OVERRIDE_OPTION, override_requested
from ...option_values import check_backend_options, switch_option, unknown_options_error
from ...types import GenerationParams
from ..base import Capabilities, Prompt, SampledToken, TokenLoopBackend
from .batch_scheduler import BatchScheduler, Request
from ..chat_format import ChatFormat, choose_chat_format
from ..engine.threads import AvailableCores, ThreadGovernor
from .convert import SIDECAR, ModelFacts, ensure_converted, quiet_transformers
from .device import check_context, is_oom, choose_device, choose_dtype
from .hf_decoder import PREFILL_CHUNK
from .vocab import TokenBytes, llama_cpp_special_tokens
from .sampling import Sampler, token_numbers

DEFAULT_MAX_CTX = 8192
MAX_SNAPSHOTS = 4
FORCED_CHUNK = 32  # forced tokens per forward in iter_logits: chunk × vocabulary floats of logits at once
OPTIONS = ("device", "dtype", "n_ctx", "n_threads", "attn", "native", "cuda_graphs", "max_batch", OVERRIDE_OPTION)
MAX_BATCH = {"cpu": 16, "cuda": 64}
"""Rows decoded per forward when requests come at once (``--parallel``; ``-o max_batch=N`` changes it)."""


class _AttentionCancelled(Exception):
    """Raised inside a forward hook to stop an attention forward between two layers."""


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    count = 0
    for x, y in zip(a, b):
        if x != y:
            break
        count += 1
    return count


class TransformersBackend(TokenLoopBackend):
    name = "transformers"
    capabilities_default = Capabilities(attention=True, constrained=True)

    def __init__(self) -> None:
        super().__init__()
        self._model: Any = None
        self._tokenizer: Any = None
        self._decoder: Any = None
        self.prefill_chunk = PREFILL_CHUNK
        """Prompt tokens evaluated between two checks for a cancel (the decoders' own chunk)."""
        self._bytes: TokenBytes | None = None
        self._format: ChatFormat | None = None
        self._facts = ModelFacts()
        self._path: Path | None = None
        self._directory: Path | None = None
        self._device: Any = None
        self._n_ctx = 0
        self._add_bos = False
        self._bos_id: int | None = None
        self._bos_text = ""
        self._eog: set[int] = set()
        self._cached: list[int] = []  # token ids whose keys/values the decoder's cache holds
        self._snapshots: dict[tuple[int, ...], Any] = {}  # prompt ids -> logits after them
        self._options: dict[str, Any] = {}
        self._governor: ThreadGovernor | None = None
        self._native_note = ""
        self._lock = threading.RLock()
        """Held while the decoder runs: requests from several threads (``--parallel``) take turns."""
        self._scheduler: BatchScheduler | None = None
        """Gathers concurrent generations into batches; only with the native decoder."""
        self._tokenizer_lock = threading.Lock()
        """Tokenizing mutates the fast tokenizer's settings: threads (``--parallel``) take turns."""

    # ---- loading --------------------------------------------------------------------
    def load(self, model: str, **options: Any) -> None:
        from ...models import resolve_model_path

        verbose = bool(options.pop("verbose", False))
        progress = options.pop("progress", None) or (lambda msg: print(msg, file=sys.stderr))
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise unknown_options_error("transformers", unknown, OPTIONS)
        # The CLI and the config check these already; the Python API passes what it is given.
        options = check_backend_options(options, "the transformers backend's options")
        requested_batch = options.get("max_batch") or 0  # checked above, before any download or load
        path = resolve_model_path(model, progress=progress, directory_ok=True)  # ORG/REPO: the HF cache
        import torch

        device = choose_device(options.get("device"))
        dtype = choose_dtype(options.get("dtype"), device)
        attn = str(options.get("attn") or "sdpa")
        if attn not in ("sdpa", "eager"):
            raise BackendError(f"attn must be sdpa or eager, not {attn!r}")
        from ..engine.threads import compute_threads

        requested_threads = int(options.get("n_threads") or 0)
        n_threads = compute_threads(requested_threads)[0]
        free_cores = AvailableCores()  # from before the load, so the first request has a measure too
        if path.is_dir():
            directory = path
            if not (directory / "config.json").is_file():
                raise ModelLoadError(path, "not a Hugging Face model directory (no config.json)")
            facts = ModelFacts.from_file(directory / SIDECAR)
        elif (path.parent / "config.json").is_file() and path.suffix != ".gguf":
            raise ModelLoadError(path, f"this is one file of a model directory; pass {path.parent}")
        else:
            directory, facts = ensure_converted(path, progress, verbose)
        override = override_requested(options)
        if options.get("n_ctx"):  # the default is within the trained context, and small
            check_context(int(options["n_ctx"]), directory, facts, override, dtype, device)
        self.unload()
        torch.set_num_threads(n_threads)
        self._device = device
        with self._unloaded_on_failure(), self._device_errors("loading the model"):
            hf_model, tokenizer = self._load_directory(directory, dtype, device, attn, verbose, path)
            self._model, self._tokenizer = hf_model, tokenizer
            facts = facts or self._facts_from_hf(hf_model, tokenizer, directory)
            max_ctx = facts.context_length or getattr(hf_model.config, "max_position_embeddings", None)
            n_ctx = int(options.get("n_ctx") or min(max_ctx or DEFAULT_MAX_CTX, DEFAULT_MAX_CTX))
            self._facts, self._path, self._directory, self._n_ctx = facts, path, directory, n_ctx
            cuda_graphs = switch_option(options, "cuda_graphs", device.type == "cuda")
            self._decoder = self._make_decoder(hf_model, switch_option(options, "native", True), cuda_graphs)
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
            self._setup_tokens()

    def _load_directory(
        self, directory: Path, dtype: Any, device: Any, attn: str, verbose: bool, source: Path
    ) -> tuple[Any, Any]:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        try:
            with quiet_transformers(verbose):
                tokenizer = AutoTokenizer.from_pretrained(str(directory))
                hf_model = AutoModelForCausalLM.from_pretrained(
                    str(directory), dtype=dtype, attn_implementation=attn
                )
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            if is_oom(exc):
                raise
            raise ModelLoadError(source, f"transformers cannot load it: {exc}") from exc
        hf_model.eval()
        hf_model.requires_grad_(False)
        return hf_model.to(device), tokenizer

    def _facts_from_hf(self, hf_model: Any, tokenizer: Any, directory: Path) -> ModelFacts:
        """Facts for a plain HF directory: its tokenizer decides the chat template and BOS."""
        bos = tokenizer.bos_token_id
        add_bos = False
        if bos is not None:
            with_specials = tokenizer("a", add_special_tokens=True).input_ids
            without = tokenizer("a", add_special_tokens=False).input_ids
            add_bos = with_specials[:1] == [bos] and without[:1] != [bos]
        template = getattr(tokenizer, "chat_template", None)
        extra = getattr(hf_model.generation_config, "eos_token_id", None)
        extra_ids = extra if isinstance(extra, list) else [extra] if isinstance(extra, int) else []
        return ModelFacts(
            architecture=str(getattr(hf_model.config, "model_type", "")),
            chat_template=template if isinstance(template, str) else None,
            add_bos=add_bos,
            bos_token_id=bos,
            eos_token_id=tokenizer.eos_token_id,
            extra_eog_token_ids=[int(i) for i in extra_ids],
            context_length=getattr(hf_model.config, "max_position_embeddings", None),
            source=str(directory),
        )

    def _make_decoder(self, hf_model: Any, native: bool, cuda_graphs: bool) -> Any:
        """The native decoder if it supports this model and matches the HF forward, else the HF one.

        The comparison costs two forwards; for a converted GGUF its success is
        remembered in the cache's sidecar, per device, dtype and code version.
        """
        from .hf_decoder import HFDecoder
        from .native_decoder import NativeDecoder, unsupported_reason, verification_key, verify

        hf = HFDecoder(hf_model, self._n_ctx)
        reason = unsupported_reason(hf_model) if native else "native=false"
        if reason is None:
            decoder = NativeDecoder(hf_model, self._n_ctx, cuda_graphs=cuda_graphs)
            key = verification_key(decoder)
            sidecar = self._directory / SIDECAR if self._directory else None
            if key in self._facts.native_verified:
                reason = None
            else:
                probe = list(range(3, 3 + min(8, self._n_ctx)))
                reason = verify(decoder, hf.reference_logits, probe)
                if reason is None and sidecar is not None and sidecar.is_file():
                    self._facts.native_verified.append(key)
                    with contextlib.suppress(OSError):
                        self._facts.save(sidecar)
            if reason is None:
                self._native_note = ""
                return decoder
        self._native_note = reason or ""
        return hf

    def _setup_tokens(self) -> None:
        tokenizer, facts = self._tokenizer, self._facts
        bos = facts.bos_token_id if facts.bos_token_id is not None else tokenizer.bos_token_id
        eos = facts.eos_token_id if facts.eos_token_id is not None else tokenizer.eos_token_id
        specials = llama_cpp_special_tokens(tokenizer, [eos, *facts.extra_eog_token_ids])
        self._bytes = TokenBytes(tokenizer, specials.roles)
        self._bos_id = bos
        self._bos_text = tokenizer.convert_ids_to_tokens(bos) if bos is not None else ""
        eos_text = tokenizer.convert_ids_to_tokens(eos) if eos is not None else ""
        self._add_bos = bool(facts.add_bos) and bos is not None
        architecture = facts.architecture or str(getattr(self._model.config, "model_type", ""))
        self._format = choose_chat_format(
            facts.chat_template, architecture, bos_token=self._bos_text or "", eos_token=eos_text or ""
        )
        self._eog = set(specials.eog)
        for marker in self._format.end_markers:
            ids = tokenizer(marker, add_special_tokens=False).input_ids
            if len(ids) == 1:
                self._eog.add(int(ids[0]))
        self._cached = []
        self._snapshots = {}

    def unload(self) -> None:
        had_model = self._model is not None
        if self._scheduler is not None:
            self._scheduler.stop()
            self._scheduler = None
        self._model = self._decoder = self._tokenizer = None
        self._cached = []
        self._snapshots = {}
        self.forget_constraint_vocabulary()
        if had_model:
            gc.collect()
            with contextlib.suppress(Exception):
                import torch

                if torch.cuda.is_available():
                    torch.cuda.empty_cache()

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

    # ---- primitives --------------------------------------------------------------------
    @property
    def capabilities(self) -> Capabilities:
        """Requests from several threads are batched (``max_parallel``) when the native decoder runs."""
        batch = self._scheduler.max_batch if self._scheduler is not None else 1
        return dataclasses.replace(self.capabilities_default, max_parallel=batch)

    @property
    def context_length(self) -> int:
        self._require()
        return self._n_ctx

    def info(self) -> dict[str, Any]:
        info = super().info()
        info.update(
            path=str(self._path),
            converted=str(self._directory) if self._directory != self._path else None,
            chat_format=self._format.source if self._format else None,
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
        assert self._format is not None
        return self._format

    def tokenize_fragment(self, text: str, parse_special: bool) -> list[int]:
        """``split_special_tokens`` keeps special tokens' text as text, like llama.cpp's ``special=False``."""
        self._require()
        with self._tokenizer_lock:  # the call sets split_special_tokens on the shared Rust tokenizer
            ids = self._tokenizer(text, add_special_tokens=False, split_special_tokens=not parse_special).input_ids
        return list(ids)

    def leading_bos(self) -> int | None:
        self._require()
        return int(self._bos_id) if self._add_bos and self._bos_id is not None else None

    def token_bytes(self, token_id: int) -> bytes:
        self._require()
        assert self._bytes is not None
        return self._bytes(token_id)

    def is_end_of_generation(self, token_id: int) -> bool:
        return token_id in self._eog

    def constraint_sizes(self) -> tuple[int, int]:
        """The tokenizer's tokens, and the logits' length (the model's vocabulary may be padded past it)."""
        size = int(self._require().config.get_text_config().vocab_size)
        return min(len(self._tokenizer), size), size

    # ---- evaluation with prompt-prefix reuse -------------------------------------------------
    def _truncate(self, length: int) -> None:
        """Forget cached positions from ``length`` on (they will be overwritten)."""
        self._cached = self._cached[:length]
        for key in [k for k in self._snapshots if len(k) > length]:
            del self._snapshots[key]

    def _evaluate(self, ids: list[int]) -> Any:
        """Logits after ``ids``, re-evaluating only what the cache does not already hold.

        The logits at the end of recently evaluated prompts are kept: asking for
        the same prompt again (a retry, ``score`` twice, streamed vs complete)
        gives bit-identical numbers instead of re-running the last position in a
        different batch shape, which changes the last float bits.
        """
        if not ids:
            raise BackendError("the prompt is empty: there is nothing to continue from")
        key = tuple(ids)
        common = _common_prefix(self._cached, ids)
        if key in self._snapshots and common >= len(ids):
            self._truncate(len(ids))
            return self._snapshots[key]
        reuse = min(common, len(ids) - 1)
        self._truncate(reuse)
        logits = self._decoder.forward(ids[reuse:], reuse)[-1]
        self._cached = list(ids)
        self._snapshots[key] = logits
        while len(self._snapshots) > MAX_SNAPSHOTS:
            del self._snapshots[next(iter(self._snapshots))]
        return logits

    def _step(self, token: int) -> Any:
        logits = self._decoder.forward([token], len(self._cached))
        self._cached.append(token)
        return logits[-1]

    def _prefill(self, ids: list[int]) -> bool:
        """Evaluate the prompt's whole chunks one call at a time; False if cancelled between two.

        The chunks are the ones the decoder runs in one ``forward`` (from the
        first position the cache lacks, ``prefill_chunk`` long), and the rest
        (at most one chunk, with the last token) is left to :meth:`_evaluate`,
        so the numbers do not change; only a cancel can now come in between.
        """
        reuse = min(_common_prefix(self._cached, ids), len(ids) - 1)
        step = self.prefill_chunk
        whole = (len(ids) - 1 - reuse) // step
        if whole == 0:
            return not self.cancelled
        self._truncate(reuse)
        for start in range(reuse, reuse + whole * step, step):
            if self.cancelled:
                return False
            self._decoder.forward(ids[start : start + step], start)
            self._cached = list(ids[: start + step])
        return not self.cancelled

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
        with self._lock, self._device_errors("generating"):
            governor = self._start_threads()
            if not self._prefill(prompt_ids):
                return
            constraint = self.json_constraint(params)
            logits = self._evaluate(prompt_ids)
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
                if len(self._cached) >= self._n_ctx:
                    return
                started = time.perf_counter()
                logits = self._step(token)
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
        with self._lock, self._device_errors("generating"):
            self._start_threads()  # a batch keeps every thread busy between barriers: no probing per step
            decode_requests(self._decoder, requests, self.is_end_of_generation)

    def iter_logits(self, prompt_ids: list[int], token_ids: Sequence[int]) -> Iterator[Any]:
        """Logits after the prompt, then after each forced token; the tokens run ``FORCED_CHUNK`` per forward."""
        self._require()
        self._start_threads()
        tokens = [int(t) for t in token_ids]
        with self._device_errors("scoring tokens"):
            yield self._evaluate(prompt_ids).float().cpu().numpy()
            done = 0
            while done < len(tokens):
                if self.cancelled:
                    return
                chunk = tokens[done : done + FORCED_CHUNK]
                start = len(prompt_ids) + done
                self._truncate(start)
                rows = self._decoder.forward(chunk, start, all_logits=True).float().cpu().numpy()
                self._cached = list(prompt_ids) + tokens[: done + len(chunk)]
                done += len(chunk)
                yield from rows

    def score(self, prompt: Prompt, candidates: Sequence[str]) -> list[float]:
        """Sum of candidate-token log-probs; the prompt is evaluated once and its cache reused."""
        import torch

        self._require()
        prompt_ids, continued = self.scoring_token_ids(prompt, candidates)
        results: list[float] = []
        with self._lock, self._device_errors("scoring"):
            self._start_threads()
            after_prompt = torch.log_softmax(self._evaluate(prompt_ids), dim=-1)
            for full in continued:
                shared = max(1, _common_prefix(full, prompt_ids))
                if shared == len(prompt_ids):
                    first = after_prompt
                else:  # the candidate's first token merged with the prompt's last one
                    first = torch.log_softmax(self._evaluate(full[:shared]), dim=-1)
                results.append(self._continuation_logprob(full[:shared], full[shared:], first))
        return results

    def _continuation_logprob(self, prefix: list[int], tokens: list[int], first: Any) -> float:
        import torch

        if not tokens:
            return 0.0
        total = float(first[tokens[0]])
        if len(tokens) > 1:
            self._truncate(len(prefix))
            logits = self._decoder.forward(tokens[:-1], len(prefix), all_logits=True)
            self._cached = prefix + tokens[:-1]
            logprobs = torch.log_softmax(logits, dim=-1)
            rows = torch.arange(len(tokens) - 1, device=logprobs.device)
            picked = logprobs[rows, torch.tensor(tokens[1:], device=logprobs.device)]
            total += float(picked.double().sum())
        return total

    # ---- introspection --------------------------------------------------------------------------
    def attention_shape(self) -> tuple[int, int]:
        config = self._require().config.get_text_config()
        return int(config.num_hidden_layers), int(config.num_attention_heads)

    def control_token_name(self, token_id: int) -> str:
        if self.token_bytes(token_id):  # only control tokens have no bytes (llama.cpp's rule, hf_vocab)
            return ""
        return str(self._tokenizer.convert_ids_to_tokens(int(token_id)) or "")

    def attention_weights(self, token_ids: list[int], start: int) -> list[Any]:
        """One eager-attention forward (fused kernels never form the weights), keeping each layer's window.

        A hook on every attention module copies the window out of that layer's
        ``[heads, n, n]`` weights as soon as the layer has run, so only one
        layer's full matrices are alive at a time; the model's own
        ``output_attentions`` would keep all of them to the end. The hook also
        checks for a cancel, so Esc stops the forward between two layers.
        """
        import torch

        hf_model = self._require()
        modules = [module for name, module in hf_model.named_modules() if name.endswith("self_attn")]
        if not modules:
            raise BackendError("this model has no attention modules the attention view knows (…self_attn)")
        kept: list[Any] = []

        def keep(module: Any, args: Any, output: Any) -> None:
            if self.cancelled:
                raise _AttentionCancelled
            weights = output[1] if isinstance(output, tuple) and len(output) > 1 else None
            if weights is None:
                raise BackendError("this model did not return attention weights")
            kept.append(weights[0, :, start:, start:].to("cpu", torch.float32).clone().numpy())

        previous = hf_model.config._attn_implementation
        handles = [module.register_forward_hook(keep) for module in modules]
        with self._device_errors("computing attention maps"):
            try:
                if previous != "eager":
                    hf_model.set_attn_implementation("eager")
                with torch.inference_mode():
                    hf_model(input_ids=torch.tensor([token_ids], device=hf_model.device), use_cache=False)
            except _AttentionCancelled:
                raise BackendError("the attention computation was cancelled") from None
            finally:
                for handle in handles:
                    handle.remove()
                if previous != "eager":
                    hf_model.set_attn_implementation(previous)
        return kept
