"""Registers the built-in backends. ``trylast`` so a plugin can replace any of them.

Only import paths are named here: each engine is imported when first used.
"""

from __future__ import annotations

from typing import Any, Callable

from ..hookspecs import hookimpl


def _lazy(module: str, attr: str) -> Callable[[], Any]:
    def factory() -> Any:
        import importlib

        return getattr(importlib.import_module(module), attr)()

    factory.__name__ = f"{attr}_factory"
    return factory


@hookimpl(trylast=True)
def register_backends(register: Callable[..., None]) -> None:
    register(
        "llama-cpp",
        _lazy("assistant.backends.llama_cpp", "LlamaCppBackend"),
        description="llama.cpp via llama-cpp-python: quantized GGUF on CPU or GPU",
    )
    register(
        "openai",
        _lazy("assistant.backends.openai.backend", "OpenAIBackend"),
        description="remote OpenAI-compatible server (vLLM, TGI, llama-server, Ollama): -o base_url=... or -m REMOTE/MODEL",
    )
    register(
        "transformers",
        _lazy("assistant.backends.torch.backend", "TransformersBackend"),
        description="PyTorch via Hugging Face transformers: CUDA, Apple MPS or CPU; GGUF or HF directories",
    )
