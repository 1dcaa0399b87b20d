"""GGUF → safetensors, once: the transformers backend's model cache.

transformers can read a GGUF file, but it parses the vocabulary in Python and
dequantizes every tensor on each load (20–65 s here). So the first load
converts the file into an ordinary Hugging Face directory (fp32 safetensors +
tokenizer, written with ``save_pretrained``) under
``<cache>/transformers/<name>-<hash>/`` and later loads read that directory,
which takes a second or two.

A converted directory also holds ``assistant.json``: what llama.cpp would have
read from the GGUF header and transformers drops (chat template, whether BOS is
added, end-of-turn token ids, training context). It is written last, so a
directory without it is an interrupted conversion and is redone. The whole
directory is built under a temporary name and renamed into place, so two
processes converting at once cannot leave a half-written copy behind.

``ASSISTANT_TRANSFORMERS_CACHE`` moves the cache (tests point it at the user's
real one so the conversion happens once per machine, like model downloads).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from ...config import paths
from ...errors import ModelLoadError
from ...models.gguf import header_text, read_metadata, training_context_length
from ..llama_limits import check_header_values

Progress = Callable[[str], None]
SIDECAR = "assistant.json"
SIDECAR_FORMAT = 1


@dataclass
class ModelFacts:
    """What the backend needs to know beyond the HF directory (stored in ``assistant.json``)."""

    architecture: str = ""
    chat_template: str | None = None
    add_bos: bool | None = None  # None: decide from the tokenizer (plain HF directories)
    bos_token_id: int | None = None
    eos_token_id: int | None = None
    extra_eog_token_ids: list[int] = field(default_factory=list)  # eot / eom from the GGUF header
    context_length: int | None = None
    source: str = ""
    native_verified: list[str] = field(default_factory=list)  # settings the native decoder passed under
    format: int = SIDECAR_FORMAT

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False)

    def save(self, path: Path) -> None:
        """Rewrite the sidecar atomically (another process may be reading it)."""
        partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        partial.write_text(self.to_json(), encoding="utf-8")
        os.replace(partial, path)

    @classmethod
    def from_file(cls, path: Path) -> ModelFacts | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("format") != SIDECAR_FORMAT:
            return None
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def cache_root() -> Path:
    override = os.environ.get("ASSISTANT_TRANSFORMERS_CACHE")
    return Path(override).expanduser() if override else paths().cache_dir / "transformers"


MAX_KEY_STEM_BYTES = 128
"""Most UTF-8 bytes of the file's name a cache directory's name keeps (the hash after it tells copies apart)."""


def cache_key(gguf: Path) -> str:
    """``<stem>-<hash>``: the catalog sha256 for catalog files (free), else path+size+mtime.

    Hashing a multi-GB file on every load would cost seconds; a changed file
    changes its size or mtime, which is what invalidates the copy.
    """
    from ...models.catalog import CATALOG

    resolved = gguf.resolve()
    stat = resolved.stat()
    for entry in CATALOG:
        with contextlib.suppress(OSError):
            if entry.path.resolve() == resolved and stat.st_size == entry.size:
                return f"{_key_stem(resolved.stem)}-{entry.sha256[:16]}"
    fingerprint = f"{resolved}\0{stat.st_size}\0{stat.st_mtime_ns}".encode()
    return f"{_key_stem(resolved.stem)}-{hashlib.sha256(fingerprint).hexdigest()[:16]}"


def _key_stem(stem: str) -> str:
    """The file's stem as the start of a directory name: at most :data:`MAX_KEY_STEM_BYTES`, and printable.

    A legal file name of 250 bytes made a directory name of 267, past the 255 a file system
    allows: the model could not load on transformers at all ("File name too long"). A control
    character in the name (a newline, an escape) went into the directory's name and every
    message that quotes it. Names that were already short and printable keep their copies.
    """
    printable = "".join(char if char.isprintable() else "_" for char in stem)
    return printable.encode("utf-8")[:MAX_KEY_STEM_BYTES].decode("utf-8", errors="ignore")


def converted_dir(gguf: Path) -> Path:
    return cache_root() / cache_key(gguf)


def is_converted(directory: Path) -> bool:
    return (directory / SIDECAR).is_file() and (directory / "config.json").is_file()


def facts_from_gguf(metadata: dict[str, Any], source: Path) -> ModelFacts:
    extra = [
        int(metadata[key])
        for key in ("tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id")
        if isinstance(metadata.get(key), int)
    ]
    bos = metadata.get("tokenizer.ggml.bos_token_id")
    eos = metadata.get("tokenizer.ggml.eos_token_id")
    template = metadata.get("tokenizer.chat_template")  # an untrusted header: an array arrives as its length
    architecture = metadata.get("general.architecture")
    return ModelFacts(
        architecture=architecture if isinstance(architecture, str) else "",
        chat_template=template if isinstance(template, str) and template else None,
        add_bos=bool(metadata.get("tokenizer.ggml.add_bos_token", True)) and isinstance(bos, int),
        bos_token_id=int(bos) if isinstance(bos, int) else None,
        eos_token_id=int(eos) if isinstance(eos, int) else None,
        extra_eog_token_ids=extra,
        context_length=training_context_length(metadata),
        source=str(source),
    )


def tensor_data_end(gguf: Path) -> int:
    """Where the last tensor's bytes end, from the header's tensor table (no data is read).

    :func:`~assistant.models.gguf.read_metadata` reads the table (one reader of it, with the
    byte size of each ggml type) and refuses a file that ends sooner.
    """
    return int(read_metadata(gguf, count_parameters=True)["GGUF.data_end"])


def check_tensor_data(gguf: Path) -> None:
    """Reject a truncated GGUF before spending a minute converting it (the header reader refuses it)."""
    tensor_data_end(gguf)


@contextlib.contextmanager
def quiet_transformers(verbose: bool) -> Iterator[None]:
    """Silence transformers' tqdm bars and warnings (they would draw over the chat UI)."""
    from transformers.utils import logging as hf_logging

    if verbose:  # shown, one safe line per record: transformers' messages quote config.json and file names
        with _visible_records(hf_logging.get_logger()):
            yield
        return
    bars = hf_logging.is_progress_bar_enabled()
    level = hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    # The GGUF dequantizer uses tqdm directly rather than transformers' switchable one.
    gguf_utils: Any = sys.modules.get("transformers.modeling_gguf_pytorch_utils")
    if gguf_utils is None:
        with contextlib.suppress(ImportError):
            import transformers.modeling_gguf_pytorch_utils as gguf_utils
    original_tqdm = getattr(gguf_utils, "tqdm", None)
    if original_tqdm is not None:
        gguf_utils.tqdm = functools.partial(original_tqdm, disable=True)
    try:
        yield
    finally:
        if original_tqdm is not None:
            gguf_utils.tqdm = original_tqdm
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


@contextlib.contextmanager
def _visible_records(logger: Any) -> Iterator[None]:
    """``logger``'s handlers format each record as llama.cpp's log lines are (:func:`log_record`) meanwhile."""
    import logging

    from ...terminal_text import log_record

    class VisibleFormatter(logging.Formatter):
        def __init__(self, inner: logging.Formatter | None) -> None:
            super().__init__()
            self.inner = inner or logging.Formatter()

        def format(self, record: logging.LogRecord) -> str:
            return log_record(self.inner.format(record))

    handlers = list(logger.handlers)
    formatters = [handler.formatter for handler in handlers]
    for handler, formatter in zip(handlers, formatters):
        handler.setFormatter(VisibleFormatter(formatter))
    try:
        yield
    finally:
        for handler, formatter in zip(handlers, formatters):
            handler.setFormatter(formatter)


def ensure_converted(
    gguf: Path,
    progress: Progress,
    verbose: bool = False,
    before_converting: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[Path, ModelFacts]:
    """The converted directory for ``gguf`` (converting it first if needed) and its facts.

    ``before_converting`` gets the GGUF's header when a conversion is due, before it starts: a
    load option the model refuses (an ``n_ctx`` past its context) is refused then, not after
    a conversion of minutes.
    """
    target = converted_dir(gguf)
    facts = ModelFacts.from_file(target / SIDECAR) if is_converted(target) else None
    if facts is not None:
        return target, facts
    metadata = read_metadata(gguf, count_parameters=True)  # raises ModelLoadError for non-GGUF files
    check_tensor_data(gguf)
    check_special_tokens(metadata, gguf)
    check_header_values(gguf, metadata)  # values that make no sense to any engine (a RoPE base of 0)
    check_divisors(metadata, gguf)
    if before_converting is not None:
        before_converting(metadata)
    facts = facts_from_gguf(metadata, gguf)
    check_room_for_copy(gguf, target.parent, metadata.get("GGUF.parameter_count"))
    convert(gguf, target, facts, progress, verbose)
    return target, facts


SPECIAL_TOKEN_KEYS = ("bos_token_id", "eos_token_id", "unknown_token_id", "padding_token_id")
"""The header's special-token ids that transformers' GGUF tokenizer looks up in the vocabulary."""


def check_special_tokens(metadata: dict[str, Any], gguf: Path) -> None:
    """Refuse a special-token id outside the vocabulary before the conversion starts.

    transformers indexes the vocabulary with each of them: an id past its end ended the load in
    "IndexError: list index out of range" (llama.cpp logs such an id and goes on without it).
    """
    vocabulary = metadata.get("tokenizer.ggml.tokens")  # an array arrives as its length
    if not isinstance(vocabulary, int) or isinstance(vocabulary, bool):
        return
    for key in SPECIAL_TOKEN_KEYS:
        value = metadata.get(f"tokenizer.ggml.{key}")
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < vocabulary:
            raise ModelLoadError(
                gguf,
                f"its header's tokenizer.ggml.{key} is {value!r}, not a token of its {vocabulary:,}-token "
                "vocabulary, so transformers cannot read its tokenizer (-b llama-cpp ignores that id)",
            )


DIVISOR_KEYS = ("attention.head_count", "attention.head_count_kv")
"""Header counts (after ``{arch}.``) transformers divides by as it builds the model's config: a 0 in one
ended the conversion in "ZeroDivisionError: integer modulo by zero", naming no key (llama.cpp refuses
such a file with a tensor-shape error of its own)."""


def check_divisors(metadata: dict[str, Any], gguf: Path) -> None:
    """Refuse a header whose head counts are 0 before the conversion starts, naming the key.

    Only a count transformers reads for the architecture: an attention-free model (Mamba) has
    no heads, and llama.cpp's converter writes ``mamba.attention.head_count = 0``; refusing that
    refused every Mamba GGUF, which transformers converts.
    """
    from ..llama_limits import header_count, shown_arch

    arch = header_text(metadata, "general.architecture")
    if arch is None:
        return  # transformers names a missing architecture itself
    read = config_keys(arch)
    for name in DIVISOR_KEYS:
        if read is not None and name not in read:
            continue
        if header_count(metadata, f"{arch}.{name}") == 0:
            raise ModelLoadError(
                gguf, f"corrupt GGUF header ({shown_arch(arch)}.{name} is 0: a model has at least one attention head)"
            )


def config_keys(arch: str) -> frozenset[str] | None:
    """The header keys (after ``{arch}.``) transformers reads into the config of ``arch``; None when
    it has no table for that name (an architecture it refuses, or one it renames)."""
    try:
        from transformers.integrations.ggml import GGUF_CONFIG_MAPPING
    except ImportError:  # -b transformers names its missing packages itself
        return None
    mapping = GGUF_CONFIG_MAPPING.get(arch)
    return frozenset(mapping) if isinstance(mapping, dict) else None


def make_cache_dir(cache: Path) -> None:
    """Create the conversion cache ``cache``; one that cannot be made is a one-line ConfigError naming it.

    ``ASSISTANT_TRANSFORMERS_CACHE`` naming a file was "the transformers backend failed to load …:
    FileExistsError: [Errno 17] File exists", which named neither the cache nor the variable.
    """
    from ...errors import ConfigError

    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        where = " (set by ASSISTANT_TRANSFORMERS_CACHE)" if os.environ.get("ASSISTANT_TRANSFORMERS_CACHE") else ""
        why = "it is not a directory" if isinstance(exc, (FileExistsError, NotADirectoryError)) else exc.strerror
        raise ConfigError(f"cannot use the transformers cache {cache}{where}: {why or exc}") from None


def check_room_for_copy(gguf: Path, cache: Path, parameters: int | None) -> None:
    """Refuse before converting when the float32 copy (4 bytes a parameter) cannot fit in ``cache``.

    A quantized GGUF grows about 7 times (a 4.4 GB 7B Q4_K_M becomes 28 GB):
    without this a conversion ran for minutes and then died on a full disk.
    """
    from ...errors import ModelFetchError
    from ...models.download import check_free_space

    make_cache_dir(cache)
    if not parameters:
        return
    try:
        check_free_space(cache, int(parameters) * 4)
    except ModelFetchError as exc:
        raise ModelLoadError(
            gguf,
            f"{exc}, for the float32 copy transformers loads (4 bytes a parameter); "
            "free some, or move that cache with ASSISTANT_TRANSFORMERS_CACHE",
        ) from None


def convert(gguf: Path, target: Path, facts: ModelFacts, progress: Progress, verbose: bool) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    started = time.perf_counter()
    progress(f"converting {gguf.name} for transformers (first load only; takes a minute)")
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():  # an interrupted earlier conversion
        shutil.rmtree(target, ignore_errors=True)
    building = target.with_name(f"{target.name}.partial-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    try:
        with quiet_transformers(verbose):
            progress("  reading the vocabulary from the GGUF header")
            tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
            progress("  dequantizing the weights to float32")
            model = AutoModelForCausalLM.from_pretrained(
                str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
            )
            # The weights are plain tensors now; drop the GGUF quantizer so the
            # model saves (and later loads) as an ordinary checkpoint.
            model.hf_quantizer = None
            if hasattr(model.config, "quantization_config"):
                del model.config.quantization_config
            progress(f"  writing safetensors to {target}")
            model.save_pretrained(str(building))
            tokenizer.save_pretrained(str(building))
            del model
        (building / SIDECAR).write_text(facts.to_json(), encoding="utf-8")
        try:
            os.replace(building, target)
        except OSError:
            if not is_converted(target):  # nobody else finished it either
                raise
    except ModelLoadError:
        raise
    except (ValueError, KeyError, RuntimeError, OSError) as exc:
        raise ModelLoadError(gguf, f"transformers cannot convert this GGUF: {exc}") from exc
    finally:
        shutil.rmtree(building, ignore_errors=True)
    progress(f"  converted in {time.perf_counter() - started:.0f} s; later loads use the copy")
