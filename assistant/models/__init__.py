"""Model catalog, references, downloads and name resolution (no engine imports here)."""

from .catalog import CATALOG, DEFAULT_MODEL, CatalogEntry, find_entry, get_entry, looks_like_path
from .fetch import pull, resolve_model_path, sha256_file

__all__ = [
    "CATALOG",
    "DEFAULT_MODEL",
    "CatalogEntry",
    "find_entry",
    "get_entry",
    "looks_like_path",
    "pull",
    "resolve_model_path",
    "sha256_file",
]
