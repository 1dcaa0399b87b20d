"""What a model file is, from its GGUF header alone: architecture, size, quantization, context, template.

Read without loading weights (:func:`assistant.models.gguf.read_metadata`), and
cached by path, size and modification time, because walking a 256k-token
vocabulary takes a noticeable fraction of a second per file and ``models list``
reads every file.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from ..config import paths
from ..errors import ModelError
from ..files import write_replacing
from .gguf import chat_template, header_text, read_metadata, training_context_length

FILE_TYPES = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K", 11: "Q3_K_S",
    12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K",
    19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL",
    26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16",
    36: "TQ1_0", 37: "TQ2_0",
}  # fmt: skip
"""llama.cpp's ``general.file_type`` values (``enum llama_ftype``): the file's main quantization."""


@dataclass(frozen=True)
class HeaderSummary:
    architecture: str | None
    parameters: int | None
    quantization: str | None
    context_length: int | None
    chat_template: bool
    """The file carries its own chat template (``tokenizer.chat_template``); a model without one is a base model."""
    name: str | None = None

    @property
    def parameters_label(self) -> str:
        if not self.parameters:
            return "-"
        for unit, scale in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
            if self.parameters >= scale:
                return f"{self.parameters / scale:.{1 if self.parameters < 10 * scale else 0}f}{unit}"
        return str(self.parameters)


CACHE_VERSION = 3
"""Bumped when reading a header learns to refuse files it used to accept: an entry written before
(version 1 took a file cut short in its tensor data for a whole model, version 2 one cut inside its
last tensor, and kept header text of any length) would vouch for the file as long as its size and
time are unchanged."""


def _cache_file() -> Path:
    return paths().cache_dir / f"gguf-headers-v{CACHE_VERSION}.json"


def _load_cache() -> dict[str, dict]:
    try:
        data = json.loads(_cache_file().read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


MAX_FACT = 200
"""Most characters of a header's text kept as a fact (a model's name, its architecture): a header may
hold 64 MB strings, and a ``general.name`` of 30 MB was printed whole by ``models info`` and kept in the
header cache, which every ``models list`` then parsed again."""


def _fact(text: str | None) -> str | None:
    return text if text is None or len(text) <= MAX_FACT else text[: MAX_FACT - 1] + "…"


def _file_type(value: object) -> str | None:
    """``general.file_type`` as a quantization name (an unknown number as itself; a bool is no file type)."""
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    return FILE_TYPES.get(value, str(value))


def summarize(path: Path) -> HeaderSummary:
    """The header facts of a GGUF file (cached). Raises :class:`~assistant.errors.ModelLoadError` for non-GGUF."""
    path = Path(path).resolve()
    stat = path.stat()
    key = f"{path}:{stat.st_size}:{stat.st_mtime_ns}"
    cache = _load_cache()
    cached = _from_cache(cache.get(key))
    if cached is not None:
        return cached
    metadata = read_metadata(path, count_parameters=True)
    summary = HeaderSummary(
        architecture=_fact(header_text(metadata, "general.architecture")),
        parameters=metadata.get("GGUF.parameter_count"),
        quantization=_file_type(metadata.get("general.file_type")),
        context_length=training_context_length(metadata),
        chat_template=chat_template(metadata) is not None,
        name=_fact(header_text(metadata, "general.name")),
    )
    # entries of this file's earlier versions, and of files gone, only grow the cache
    cache = {k: v for k, v in cache.items() if k.rsplit(":", 2)[0] != str(path) and _still_there(k)}
    cache[key] = asdict(summary)
    try:
        target = _cache_file()
        target.parent.mkdir(parents=True, exist_ok=True)
        write_replacing(target, json.dumps(cache))
        for old in range(1, CACHE_VERSION):  # an older version's cache is never read again
            target.with_name("gguf-headers.json" if old == 1 else f"gguf-headers-v{old}.json").unlink(missing_ok=True)
    except OSError:
        pass  # a cache that cannot be written only costs time
    return summary


def _from_cache(entry: object) -> HeaderSummary | None:
    """A cached summary, if ``entry`` is one with fields of the right types (else it is read again).

    The cache is a file: an edited or damaged one (``"parameters": "x"``) ended
    ``models list`` in a TypeError traceback.
    """
    if not isinstance(entry, dict):
        return None
    try:
        summary = HeaderSummary(**entry)
    except TypeError:
        return None
    texts = (summary.architecture, summary.quantization, summary.name)
    numbers = (summary.parameters, summary.context_length)
    texts_ok = all(v is None or isinstance(v, str) for v in texts)
    numbers_ok = all(v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in numbers)
    return summary if texts_ok and numbers_ok and isinstance(summary.chat_template, bool) else None


def _still_there(key: str) -> bool:
    """Whether the file a cache key (``PATH:SIZE:MTIME``) names still exists."""
    return Path(key.rsplit(":", 2)[0]).is_file()


def try_summarize(path: Path) -> HeaderSummary | None:
    """:func:`summarize`, or None for a file that is not a readable GGUF (listed, not fatal)."""
    try:
        return summarize(path)
    except (ModelError, OSError):
        return None
