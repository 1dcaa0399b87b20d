"""From a model directory to what the transformers backend runs: weights, tokenizer, decoder, token rules.

Apart from :mod:`.backend` because each step here runs once per load and
hands back plain values; the backend keeps them and only orchestrates (option
checks, device and dtype from :mod:`.device`, out-of-memory handling):

- :func:`check_model_directory`: what a plain HF directory lacks (a config object, weights);
- :func:`load_directory`: the HF tokenizer and model, in eval mode on the device;
- :func:`facts_from_hf`: for a plain HF directory (no GGUF sidecar), the facts a
  converted GGUF records (chat template, BOS rule, end-of-generation ids);
- :func:`choose_decoder`: the native decoder where it supports the model *and*
  matches the HF forward, else the HF one, with the reason;
- :func:`token_rules`: BOS, end-of-generation ids and the chat format, chosen
  exactly as llama-cpp chooses them so both engines feed identical token ids.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import ModelLoadError
from ..chat_format import ChatFormat, choose_chat_format
from .convert import SIDECAR, ModelFacts, quiet_transformers
from .device import is_oom
from .vocab import TokenBytes, llama_cpp_special_tokens

WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.safetensors.index.json", "*.bin.index.json")
"""Weight files transformers loads from a directory (sharded ones through their index)."""


def check_model_directory(directory: Path) -> None:
    """Refuse a directory transformers could not load, saying what it lacks, before importing transformers.

    A ``config.json`` that is JSON but no object (``[1, 2]``) was "the transformers backend failed to
    load …: TypeError: … argument after ** must be a mapping, not list", and a directory with a config
    but no weights failed on its tokenizer ("You need to have sentencepiece or tiktoken installed").
    """
    import json

    config = directory / "config.json"
    if not config.is_file():
        raise ModelLoadError(directory, "not a Hugging Face model directory (no config.json)")
    try:
        parsed = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # UnicodeDecodeError is a ValueError
        raise ModelLoadError(directory, f"config.json cannot be read as JSON ({exc})") from None
    if not isinstance(parsed, dict):
        raise ModelLoadError(directory, f"config.json holds a JSON {type(parsed).__name__}, not an object")
    if not any(any(directory.glob(pattern)) for pattern in WEIGHT_PATTERNS):
        raise ModelLoadError(directory, "no weights in it (*.safetensors or pytorch_model*.bin)")


def load_directory(
    directory: Path, dtype: Any, device: Any, attn: str, verbose: bool, source: Path
) -> tuple[Any, Any]:
    """(model, tokenizer) from a HF directory; a model transformers cannot read is a ModelLoadError on ``source``.

    So is one whose weight files lack weights the architecture needs: transformers fills those with
    random numbers and warns (a warning :func:`quiet_transformers` hides), so a ``model.safetensors``
    holding other tensors loaded "fine" and chatted in random tokens.
    """
    from safetensors import SafetensorError
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        with quiet_transformers(verbose):
            tokenizer = AutoTokenizer.from_pretrained(str(directory))
            hf_model, loading = AutoModelForCausalLM.from_pretrained(
                str(directory), dtype=dtype, attn_implementation=attn, output_loading_info=True
            )
    except (OSError, ValueError, KeyError, RuntimeError, SafetensorError) as exc:
        if is_oom(exc):
            raise
        from ...terminal_text import one_line

        raise ModelLoadError(source, f"transformers cannot load it: {one_line(str(exc))}") from exc
    missing = sorted(loading.get("missing_keys") or ())
    if missing:
        shown = ", ".join(missing[:2]) + (f" and {len(missing) - 2} more" if len(missing) > 2 else "")
        lacking = f"its weight files lack {len(missing)} of the weights the model needs ({shown})"
        raise ModelLoadError(source, f"{lacking}: corrupt or not this model's weights")
    hf_model.eval()
    hf_model.requires_grad_(False)
    return hf_model.to(device), tokenizer


def facts_from_hf(hf_model: Any, tokenizer: Any, directory: Path) -> ModelFacts:
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


def choose_decoder(
    hf_model: Any, n_ctx: int, facts: ModelFacts, directory: Path | None, native: bool, cuda_graphs: bool
) -> tuple[Any, str]:
    """(decoder, why not native: "" when native): the native decoder if it supports the model and matches HF.

    The comparison costs two forwards; for a converted GGUF its success is
    remembered in the cache's sidecar (``facts.native_verified``), per device,
    dtype and code version.
    """
    from .hf_decoder import HFDecoder
    from .native_decoder import NativeDecoder, unsupported_reason, verification_key, verify

    hf = HFDecoder(hf_model, n_ctx)
    reason = unsupported_reason(hf_model) if native else "native=false"
    if reason is None:
        decoder = NativeDecoder(hf_model, n_ctx, cuda_graphs=cuda_graphs)
        key = verification_key(decoder)
        sidecar = directory / SIDECAR if directory else None
        if key not in facts.native_verified:
            probe = list(range(3, 3 + min(8, n_ctx)))
            reason = verify(decoder, hf.reference_logits, probe)
            if reason is None and sidecar is not None and sidecar.is_file():
                facts.native_verified.append(key)
                with contextlib.suppress(OSError):
                    facts.save(sidecar)
        if reason is None:
            return decoder, ""
    return hf, reason or ""


@dataclass
class TokenRules:
    """What the loaded model's tokens mean to the token loop: bytes, BOS, end of generation, chat format."""

    bytes: TokenBytes
    bos_id: int | None
    bos_text: str
    add_bos: bool
    eog: set[int]
    chat_format: ChatFormat


def token_rules(tokenizer: Any, facts: ModelFacts, model_type: str) -> TokenRules:
    """The facts' BOS/EOS (else the tokenizer's), llama.cpp's end-of-generation set and the chat format.

    A chat format's end marker that is one token also ends generation (a model
    that writes ``<|im_end|>`` as an ordinary token still stops there).
    """
    bos = facts.bos_token_id if facts.bos_token_id is not None else tokenizer.bos_token_id
    eos = facts.eos_token_id if facts.eos_token_id is not None else tokenizer.eos_token_id
    specials = llama_cpp_special_tokens(tokenizer, [eos, *facts.extra_eog_token_ids])
    bos_text = tokenizer.convert_ids_to_tokens(bos) if bos is not None else ""
    eos_text = tokenizer.convert_ids_to_tokens(eos) if eos is not None else ""
    architecture = facts.architecture or model_type
    chat_format = choose_chat_format(
        facts.chat_template, architecture, bos_token=bos_text or "", eos_token=eos_text or ""
    )
    eog = set(specials.eog)
    for marker in chat_format.end_markers:
        ids = tokenizer(marker, add_special_tokens=False).input_ids
        if len(ids) == 1:
            eog.add(int(ids[0]))
    return TokenRules(
        bytes=TokenBytes(tokenizer, specials.roles),
        bos_id=bos,
        bos_text=bos_text,
        add_bos=bool(facts.add_bos) and bos is not None,
        eog=eog,
        chat_format=chat_format,
    )
